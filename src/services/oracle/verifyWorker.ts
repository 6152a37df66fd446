/** Worker thread of the VerifierPool: checks signatures of the batches it is sent. */
import { parentPort, workerData } from 'node:worker_threads';
import { signatureError, type SignedFields } from './signature.ts';

const domainSeparator = workerData.domainSeparator as Uint8Array;

parentPort!.on('message', (msg: { id: number; items: SignedFields[] }) => {
  const errors = msg.items.map((item) => {
    try {
      return signatureError(domainSeparator, item) ?? null;
    } catch (err) {
      return `bad signature: ${(err as Error).message}`;
    }
  });
  parentPort!.postMessage({ id: msg.id, errors });
});
