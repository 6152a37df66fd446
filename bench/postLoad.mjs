// Load generator for bench:oracle, in its own process as real clients are (their HTTP work must
// not share the oracle's event loop). Reads {url, requests: string[][]} (one list of request
// bodies per client) from the file named by argv[2], posts each client's bodies in order, all
// clients at once, and prints {accepted, other, seconds, busyRequestMs} as JSON.
import { readFileSync } from 'node:fs';

const { url, requests } = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const counts = { accepted: 0, other: 0 };
let busyRequestMs = 0;
const t = performance.now();
await Promise.all(
  requests.map(async (bodies) => {
    for (const body of bodies) {
      const r0 = performance.now();
      const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
      const json = await res.json();
      busyRequestMs += performance.now() - r0;
      if (res.status !== 200) throw new Error(`HTTP ${res.status}: ${JSON.stringify(json)}`);
      for (const r of json.results) r.status === 'accepted' ? counts.accepted++ : counts.other++;
    }
  }),
);
process.stdout.write(JSON.stringify({ ...counts, seconds: (performance.now() - t) / 1000, busyRequestMs }));
