-- wrk script: one ~600-byte SHARING event per request, each with an id of
-- its own (a tag per run and per wrk thread, then a counter), posted to
-- /v1/orgs/$ORG/events with the bearer key $KEY. Used by run.sh.
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer " .. os.getenv("KEY")
wrk.path = "/v1/orgs/" .. os.getenv("ORG") .. "/events"

local run_tag = os.getenv("RUN_TAG") or tostring(os.time())
local threads = 0
local pad = string.rep("x", 330)

function setup(thread)
  threads = threads + 1
  thread:set("thread_tag", run_tag .. "t" .. threads)
end

local n = 0
function request()
  n = n + 1
  local body = '{"event_id":"evt_' .. thread_tag .. '_' .. n .. '",'
    .. '"timestamp":"2026-12-07T01:00:00.000Z","category":"SHARING",'
    .. '"action":"share.member_added","user_id":"usr_bench0001",'
    .. '"resource_id":"shr_bench0001","payload":{"principal_id":"usr_member00001",'
    .. '"role":"contributor","pad":"' .. pad .. '"}}'
  return wrk.format(nil, nil, nil, body)
end
