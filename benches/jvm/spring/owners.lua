-- wrk script of benches/jvm/spring.sh: GET /owners/{id} with ids 1..100 in turn, so that one
-- route is many raw paths (the agent must name them all `GET /owners/{id}`).
local n = 0
request = function()
  n = n % 100 + 1
  return wrk.format("GET", "/owners/" .. n)
end
