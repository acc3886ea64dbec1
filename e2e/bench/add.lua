-- wrk script: POST /add with a fixed JSON body
wrk.method = "POST"
wrk.body = '{"first":512,"second":512}'
wrk.headers["Content-Type"] = "application/json"
