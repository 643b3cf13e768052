"""The `web` service: finds `api` through Consul (API_ADDR, rendered by Nomad's template from
the Consul catalog) and answers with what `api` answered."""
import http.server
import json
import os
import urllib.request

PORT = int(os.environ["NOMAD_PORT_http"])


def api_addrs():
    # local/api.env holds an API_ADDR line per healthy instance (rendered from Consul).
    return [a for a in os.environ.get("API_ADDR", "").split(",") if a]


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = {"service": "web", "api": None, "error": None}
        status = 502
        for addr in api_addrs():
            try:
                with urllib.request.urlopen(f"http://{addr}/", timeout=10) as r:
                    body["api"] = json.loads(r.read())
                    body["api_addr"] = addr
                    status = 200
                    break
            except Exception as e:  # the next instance, or report the error
                body["error"] = f"{addr}: {e}"
        if not api_addrs():
            body["error"] = "no healthy api instance in Consul"
        data = json.dumps(body, indent=2).encode() + b"\n"
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


http.server.ThreadingHTTPServer(("127.0.0.1", PORT), Handler).serve_forever()
