/** Structured JSON logs (pino), to stderr by default so stdout stays free for machine-readable output. */
import { pino, type Logger } from 'pino';

export type { Logger };

/** `destination`: a file descriptor (2 = stderr) or a file path (appended to, folders created). */
export function createLogger(service: string, level = process.env.BPE_LOG_LEVEL ?? 'info', destination: number | string = 2): Logger {
  const dest = typeof destination === 'number' ? pino.destination(destination) : pino.destination({ dest: destination, mkdir: true, sync: false });
  return pino({ name: service, level }, dest);
}
