/** Structured JSON logs (pino) to stderr, so stdout stays free for machine-readable output. */
import { pino, type Logger } from 'pino';

export type { Logger };

export function createLogger(service: string, level = process.env.BPE_LOG_LEVEL ?? 'info'): Logger {
  return pino({ name: service, level }, pino.destination(2));
}
