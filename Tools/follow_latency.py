# Latency from an append in one process to `stoa tail -f` printing it in another.
# Usage: python3 Tools/follow_latency.py [path/to/stoa]   (default .build/release/stoa)
import subprocess, time, json, datetime, threading, statistics
import os, sys, tempfile
stoa = sys.argv[1] if len(sys.argv) > 1 else ".build/release/stoa"
store = tempfile.mkdtemp(prefix="stoa-latency-") + "/store"
subprocess.run([stoa, "init", store], check=True, stderr=subprocess.DEVNULL)
tail = subprocess.Popen([stoa, "tail", store, "-f", "-n", "0"], stdout=subprocess.PIPE, text=True, bufsize=1)
lat = []
def reader():
    for line in tail.stdout:
        now = time.time()
        sent = json.loads(line)["sent"]
        lat.append((now - sent) * 1000)
t = threading.Thread(target=reader, daemon=True); t.start()
time.sleep(0.5)
app = subprocess.Popen([stoa, "append", store], stdin=subprocess.PIPE, text=True, stderr=subprocess.DEVNULL)
for i in range(100):
    app.stdin.write(json.dumps({"type": "ping", "sent": time.time(), "i": i}) + "\n"); app.stdin.flush()
    time.sleep(0.02)
app.stdin.close(); app.wait(); time.sleep(0.5); tail.kill()
print(f"records {len(lat)}  median {statistics.median(lat):.1f} ms  p99 {sorted(lat)[int(len(lat)*0.99)-1]:.1f} ms  max {max(lat):.1f} ms")
