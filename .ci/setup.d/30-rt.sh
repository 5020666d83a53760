# The real Request Tracker 5.0.3 (127.0.0.1:19080, SQLite, RT's standalone server), the
# judge of the `rt` upstream kind: about a minute of Debian packages on a fresh machine
# (up.sh runs apt-get update itself if the install fails), seconds once installed.
# Exports RT_URL and RT_TOKEN.
eval "$(bash "$TICKETGATE_SHARED/rt-live/up.sh")"
export RT_URL RT_TOKEN
