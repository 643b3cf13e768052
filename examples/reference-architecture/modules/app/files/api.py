"""The `api` service: answers with the result of a query it runs on PostgreSQL with the dynamic
credential Vault issued to it (PGUSER/PGPASSWORD, rendered by Nomad's template from Vault)."""
import hashlib
import http.server
import json
import os
import subprocess
import sys

PSQL = sys.argv[1]
PORT = int(os.environ["NOMAD_PORT_http"])
QUERY = "select current_user || ' on ' || current_database() || ', ' || version()"


def query():
    out = subprocess.run(
        [PSQL, "-w", "-tAc", QUERY], capture_output=True, text=True, timeout=10
    )
    if out.returncode != 0:
        return None, out.stderr.strip()
    return out.stdout.strip(), None


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        result, error = query()
        secret = os.environ.get("API_SECRET", "")
        body = {
            "service": "api",
            "db_user": os.environ.get("PGUSER", ""),
            "query_result": result,
            "query_error": error,
            # Proof the static secret arrived, without revealing it.
            "api_secret_sha256": hashlib.sha256(secret.encode()).hexdigest()[:16] if secret else None,
        }
        data = json.dumps(body).encode()
        self.send_response(200 if result else 500)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


http.server.ThreadingHTTPServer(("127.0.0.1", PORT), Handler).serve_forever()
