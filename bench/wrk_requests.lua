-- wrk script for scripts/bench (bench/web.py): the requests of one scenario, and a summary.
--
-- Arguments after `--`: mode (healthz | deductions | batch), bearer token, run tag, and the
-- batch size. Each wrk thread numbers its own requests, so every request carries its own
-- Idempotency-Key and every posting its own external id: nothing is a replay or a
-- duplicate, each accepted request appends. done() prints one line, WRK_JSON {...}.

local mode, size = "healthz", 100
local run_tag = "run"
local headers = {}
local threads = {}
local thread_count = 0

counter = 0
thread_id = 0
not_ok = 0

function setup(thread)
  thread_count = thread_count + 1
  thread:set("thread_id", thread_count)
  table.insert(threads, thread)
end

function init(args)
  mode = args[1] or "healthz"
  run_tag = args[3] or "run"
  size = tonumber(args[4] or "100")
  headers["Authorization"] = "Bearer " .. (args[2] or "")
  headers["Content-Type"] = "application/json"
end

local DEDUCTION = '{"manager_id":"M1","rule_code":"B1","occurrences":1,"aggravated":false,'
  .. '"effective_on":"2026-02-01","description":"bench"}'

local POSTING = '{"customer_id":"C%d","booked_on":"2026-02-15","interest_income":"100.00",'
  .. '"deposit_earnings":"0","fee_income":"0","source_system":"BENCH","external_id":"%s-%d"}'

local function batch_body(key)
  local items = {}
  for i = 1, size do
    items[i] = string.format(POSTING, (counter * size + i) % 100, key, i)
  end
  return '{"items":[' .. table.concat(items, ",") .. ']}'
end

function request()
  if mode == "healthz" then
    return wrk.format("GET", "/healthz")
  end
  counter = counter + 1
  local key = run_tag .. "-" .. thread_id .. "-" .. counter
  headers["Idempotency-Key"] = key
  if mode == "deductions" then
    return wrk.format("POST", "/api/v1/deductions", headers, DEDUCTION)
  end
  return wrk.format("POST", "/api/v1/contributions/batch", headers, batch_body(key))
end

function response(status, response_headers, body)
  if status ~= 200 and status ~= 201 then
    not_ok = not_ok + 1
  end
end

function done(summary, latency, requests)
  local refused = 0
  for _, thread in ipairs(threads) do
    refused = refused + thread:get("not_ok")
  end
  local e = summary.errors
  io.write(string.format(
    'WRK_JSON {"requests":%d,"duration_us":%d,"not_ok":%d,"errors":{"connect":%d,'
      .. '"read":%d,"write":%d,"status":%d,"timeout":%d},"p50_us":%d,"p95_us":%d,'
      .. '"p99_us":%d,"max_us":%d,"mean_us":%.1f}\n',
    summary.requests, summary.duration, refused, e.connect, e.read, e.write, e.status,
    e.timeout, latency:percentile(50), latency:percentile(95), latency:percentile(99),
    latency.max, latency.mean))
end
