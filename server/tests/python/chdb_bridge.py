"""Runs the ClickHouse backend's statements on a current ClickHouse engine
embedded in Python (PyPI chdb-core), for the tests of
server/src/storage/clickhouse: the same DDL, inserts and queries the server
sends to clickhouse-server over HTTP.

Protocol, one JSON object per line each way:
  {"op": "query", "db": "name" | null, "sql": "..."}
  {"op": "insert", "db": "name", "table": "t", "structure": "cols", "rows": "<hex RowBinary>"}
answered by {"ok": true, "data": "<hex of the answer>"} or
{"ok": false, "error": "..."}. The data directory is the first argument; an
optional second one is a server configuration file (for `remote_servers`).
"""

import json
import os
import sys

from chdb import session


def main() -> None:
    path = sys.argv[1]
    if len(sys.argv) > 2:
        s = session.Session(f"file:{path}?config-file={sys.argv[2]}")
    else:
        s = session.Session(path)
    n = 0
    for line in sys.stdin:
        req = json.loads(line)
        try:
            if req["op"] == "query":
                if req.get("db"):
                    s.query(f"USE {req['db']}")
                res = s.query(req["sql"])
                data = res.bytes() if res is not None else b""
            else:
                n += 1
                rows = os.path.join(path, f"insert-{n}.bin")
                with open(rows, "wb") as f:
                    f.write(bytes.fromhex(req["rows"]))
                s.query(
                    f"INSERT INTO {req['db']}.{req['table']} "
                    f"SELECT * FROM file('{rows}', 'RowBinary', '{req['structure']}')"
                )
                os.remove(rows)
                data = b""
            out = {"ok": True, "data": data.hex()}
        except Exception as e:  # every failure goes back to the test
            out = {"ok": False, "error": str(e)}
        sys.stdout.write(json.dumps(out) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
