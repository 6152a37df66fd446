/**
 * A sink's bounded local task queue: at most `concurrency` tasks run at once through the sink's
 * `worker`, at most `maxQueue` more wait. A full queue refuses at once (`QueueFullError`) rather than
 * growing: the backlog is what the sink reports on chain, and a sink that accepts more than it can
 * finish is charged for the shortfall; refusing lets the source take the task elsewhere.
 *
 * Every finished task feeds its latency and success into a `CapacityComputer`, so the capacity the
 * sink declares follows what it actually does. A worker that throws never surfaces as an unhandled
 * rejection: the task counts as failed and is reported through the `failed` event.
 *
 * Events: `completed` (task, result, latency s), `failed` (task, error, latency s), `rejected`
 * (task, error: why `submit` refused it), `drained` (the backlog fell to zero).
 */
import { EventEmitter } from 'node:events';
import { CapacityComputer, type CapacitySignal } from './capacityComputer.ts';

/** A unit of work. `id` is the caller's, e.g. the task id of the source-signed request. */
export interface Task {
  readonly id: string;
}

export type Worker<T extends Task, R> = (task: T) => Promise<R>;

export interface TaskQueueOptions<T extends Task, R> {
  /** Runs one task; a throw or rejection marks the task failed. */
  worker: Worker<T, R>;
  /** Tasks run in parallel. */
  concurrency: number;
  /** Tasks that may wait for a free slot (running ones not counted). */
  maxQueue: number;
  /** Receives every completion; by default one is created from `concurrency` and `epochSeconds`. */
  capacity?: CapacityComputer;
  /** Epoch length in seconds, for the default `capacity`. */
  epochSeconds?: number | bigint;
  /** Clock in milliseconds (default `performance.now`); inject one to test without real time. */
  now?: () => number;
}

export interface TaskQueueEvents<T extends Task, R> {
  completed: [task: T, result: R, latencySeconds: number];
  failed: [task: T, error: unknown, latencySeconds: number];
  rejected: [task: T, error: TaskRejectedError];
  drained: [];
}

/** Why `submit` refused a task. */
export class TaskRejectedError extends Error {
  constructor(
    message: string,
    readonly taskId: string,
  ) {
    super(message);
    this.name = new.target.name;
  }
}

export class QueueFullError extends TaskRejectedError {
  constructor(
    taskId: string,
    readonly maxQueue: number,
  ) {
    super(`task ${taskId} refused: the queue is full (maxQueue ${maxQueue} tasks already waiting)`, taskId);
  }
}

export class DuplicateTaskError extends TaskRejectedError {
  constructor(taskId: string) {
    super(`task ${taskId} refused: a task with this id is already waiting or running`, taskId);
  }
}

export class QueueDrainingError extends TaskRejectedError {
  constructor(taskId: string) {
    super(`task ${taskId} refused: the queue is draining and accepts no new tasks`, taskId);
  }
}

// Typed `on` / `once` / `off` / `emit` for the events above (Node 20's types have no generic EventEmitter).
export interface TaskQueueManager<T extends Task, R> {
  on<E extends keyof TaskQueueEvents<T, R>>(event: E, listener: (...args: TaskQueueEvents<T, R>[E]) => void): this;
  once<E extends keyof TaskQueueEvents<T, R>>(event: E, listener: (...args: TaskQueueEvents<T, R>[E]) => void): this;
  off<E extends keyof TaskQueueEvents<T, R>>(event: E, listener: (...args: TaskQueueEvents<T, R>[E]) => void): this;
  emit<E extends keyof TaskQueueEvents<T, R>>(event: E, ...args: TaskQueueEvents<T, R>[E]): boolean;
}

function checkPositiveInteger(name: string, v: number): void {
  if (!Number.isSafeInteger(v) || v < 1) throw new RangeError(`${name} must be a positive integer, got ${v}`);
}

export class TaskQueueManager<T extends Task, R = unknown> extends EventEmitter {
  readonly concurrency: number;
  readonly maxQueue: number;
  readonly capacity: CapacityComputer;

  readonly #worker: Worker<T, R>;
  readonly #now: () => number;
  readonly #waiting: T[] = [];
  // Ids waiting or running: a request replayed while its first copy is in flight would be done twice.
  readonly #ids = new Set<string>();
  #running = 0;
  #completed = 0;
  #failed = 0;
  #draining = false;

  constructor(options: TaskQueueOptions<T, R>) {
    super();
    const { worker, concurrency, maxQueue, epochSeconds, now = () => performance.now() } = options;
    if (typeof worker !== 'function') throw new TypeError('worker must be a function');
    checkPositiveInteger('concurrency', concurrency);
    if (!Number.isSafeInteger(maxQueue) || maxQueue < 0) throw new RangeError(`maxQueue must be an integer >= 0, got ${maxQueue}`);
    if (options.capacity === undefined && epochSeconds === undefined) {
      throw new RangeError('epochSeconds is required when no capacity computer is passed');
    }
    const capacity = options.capacity ?? new CapacityComputer({ concurrency, epochSeconds: epochSeconds! });
    // The computer's formula multiplies by its own concurrency: a mismatch would misstate capacity.
    if (capacity.concurrency !== concurrency) {
      throw new RangeError(`capacity computer has concurrency ${capacity.concurrency}, the queue ${concurrency}`);
    }
    this.#worker = worker;
    this.#now = now;
    this.concurrency = concurrency;
    this.maxQueue = maxQueue;
    this.capacity = capacity;
  }

  /** Tasks waiting or running: what the sink reports as its backlog. */
  get backlog(): number {
    return this.#waiting.length + this.#running;
  }

  get waiting(): number {
    return this.#waiting.length;
  }

  get running(): number {
    return this.#running;
  }

  /** Tasks the worker finished successfully. */
  get completed(): number {
    return this.#completed;
  }

  /** Tasks whose worker threw or rejected. */
  get failed(): number {
    return this.#failed;
  }

  get draining(): boolean {
    return this.#draining;
  }

  /**
   * Accepts a task: it starts at once if a slot is free, else it waits. Throws (and emits `rejected`)
   * a `QueueDrainingError`, `DuplicateTaskError` or `QueueFullError` when refused. Synchronous, so
   * the sink can answer the source before doing anything else; outcomes arrive as events.
   */
  submit(task: T): void {
    const error = this.#refusal(task);
    if (error) {
      this.emit('rejected', task, error);
      throw error;
    }
    this.#ids.add(task.id);
    this.#waiting.push(task);
    this.#pump();
  }

  /** The capacity signal to declare now (hysteresis in the computer); 0 while draining. */
  signal(): CapacitySignal {
    return this.capacity.next({ backlog: this.backlog, draining: this.#draining });
  }

  /** Stops accepting tasks; resolves once every accepted task (waiting or running) has finished. */
  drain(): Promise<void> {
    this.#draining = true;
    if (this.backlog === 0) return Promise.resolve();
    return new Promise((resolve) => this.once('drained', resolve));
  }

  #refusal(task: T): TaskRejectedError | undefined {
    if (this.#draining) return new QueueDrainingError(task.id);
    if (this.#ids.has(task.id)) return new DuplicateTaskError(task.id);
    // A task that would start at once does not wait, so only a full set of slots makes it queue.
    if (this.#running >= this.concurrency && this.#waiting.length >= this.maxQueue) {
      return new QueueFullError(task.id, this.maxQueue);
    }
    return undefined;
  }

  #pump(): void {
    while (this.#running < this.concurrency && this.#waiting.length > 0) {
      void this.#run(this.#waiting.shift()!);
    }
  }

  async #run(task: T): Promise<void> {
    this.#running++;
    const start = this.#now();
    let outcome: { ok: true; result: R } | { ok: false; error: unknown };
    try {
      outcome = { ok: true, result: await this.#worker(task) };
    } catch (error) {
      outcome = { ok: false, error };
    }
    // A clock stepping backwards (or an injected one) must not produce a negative latency.
    const latency = Math.max(0, this.#now() - start) / 1000;
    this.#running--;
    this.#ids.delete(task.id);
    this.capacity.observe(latency, outcome.ok);
    if (outcome.ok) this.#completed++;
    else this.#failed++;
    this.#pump();
    const idle = this.backlog === 0;
    // Listeners run after the queue is consistent; `drained` fires even if one of them throws, so
    // `drain()` cannot hang on a listener's bug.
    try {
      if (outcome.ok) this.emit('completed', task, outcome.result, latency);
      else this.emit('failed', task, outcome.error, latency);
    } finally {
      if (idle) this.emit('drained');
    }
  }
}
