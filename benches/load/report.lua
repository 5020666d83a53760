-- wrk script: optional POST body from a file, and a machine-readable summary line.
-- Environment: WRK_METHOD (default GET), WRK_BODY_FILE, WRK_CONTENT_TYPE, WRK_AUTH_HEADER, WRK_AUTH_VALUE.
local method = os.getenv("WRK_METHOD") or "GET"
local body_file = os.getenv("WRK_BODY_FILE")
local body = nil
if body_file and body_file ~= "" then
  local f = assert(io.open(body_file, "rb"))
  body = f:read("*a")
  f:close()
end
local headers = {}
local ct = os.getenv("WRK_CONTENT_TYPE")
if ct and ct ~= "" then headers["Content-Type"] = ct end
local ah, av = os.getenv("WRK_AUTH_HEADER"), os.getenv("WRK_AUTH_VALUE")
if ah and ah ~= "" then headers[ah] = av end

-- A body containing {ID} gets a fresh value per request (unique Message-IDs for mail).
local vary = body and body:find("{ID}", 1, true)
local counter = 0
local salt = (tostring({}):gsub("table: ", ""))
request = function()
  if vary then
    counter = counter + 1
    local b = body:gsub("{ID}", salt .. "-" .. counter)
    return wrk.format(method, nil, headers, b)
  end
  return wrk.format(method, nil, headers, body)
end

done = function(summary, latency, requests)
  local secs = summary.duration / 1e6
  io.write(string.format("RESULT rps=%.1f p50=%d p99=%d p999=%d requests=%d errors=%d\n",
    summary.requests / secs,
    latency:percentile(50), latency:percentile(99), latency:percentile(99.9),
    summary.requests,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.status + summary.errors.timeout))
end
