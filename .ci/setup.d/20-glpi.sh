# The real GLPI 10.0.12 (127.0.0.1:18380), whose apirest.php ITSM-NG shares.
apt_update_once
eval "$(bash "$TICKETGATE_SHARED/glpi-live/up.sh")"
