import { afterEach, beforeEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { CapacityComputer } from '../../src/sdk/capacityComputer.ts';
import {
  DuplicateTaskError,
  QueueDrainingError,
  QueueFullError,
  TaskQueueManager,
  TaskRejectedError,
  type Task,
} from '../../src/sdk/taskQueue.ts';

interface Job extends Task {
  readonly value: number;
}

/**
 * A worker whose tasks finish only when the test says so, counting how many run at once.
 * No real time anywhere: the queue's clock is `clock.t` (ms), moved by hand.
 */
function harness(options: { concurrency: number; maxQueue: number; capacity?: CapacityComputer }) {
  const clock = { t: 0 };
  const pending = new Map<string, { resolve: (v: number) => void; reject: (e: unknown) => void }>();
  const stats = { active: 0, maxActive: 0, started: [] as string[] };
  const queue = new TaskQueueManager<Job, number>({
    ...options,
    epochSeconds: 300,
    now: () => clock.t,
    worker: (task) => {
      stats.active++;
      stats.maxActive = Math.max(stats.maxActive, stats.active);
      stats.started.push(task.id);
      return new Promise<number>((resolve, reject) => pending.set(task.id, { resolve, reject })).finally(() => {
        stats.active--;
      });
    },
  });
  /** Settles a running task and lets the queue react (microtasks and one macrotask turn). */
  async function finish(id: string, error?: Error): Promise<void> {
    const p = pending.get(id);
    assert.ok(p, `task ${id} is not running`);
    pending.delete(id);
    if (error) p.reject(error);
    else p.resolve(1);
    await new Promise(setImmediate);
  }
  const job = (id: string): Job => ({ id, value: 1 });
  return { queue, clock, stats, pending, finish, job };
}

// A worker's failure must never escape as an unhandled rejection.
const unhandled: unknown[] = [];
const onUnhandled = (reason: unknown) => unhandled.push(reason);
beforeEach(() => {
  unhandled.length = 0;
  process.on('unhandledRejection', onUnhandled);
});
afterEach(async () => {
  await new Promise(setImmediate);
  process.off('unhandledRejection', onUnhandled);
  assert.deepEqual(unhandled, []);
});

describe('TaskQueueManager: bounds', () => {
  it('accepts maxQueue waiting tasks beyond the running ones and refuses the next with QueueFullError', async () => {
    const { queue, job, finish } = harness({ concurrency: 2, maxQueue: 3 });
    const rejected: [string, TaskRejectedError][] = [];
    queue.on('rejected', (task, error) => rejected.push([task.id, error]));
    for (let i = 1; i <= 5; i++) queue.submit(job(`t${i}`));
    assert.equal(queue.running, 2);
    assert.equal(queue.waiting, 3);
    assert.equal(queue.backlog, 5);
    assert.throws(
      () => queue.submit(job('t6')),
      (e: unknown) => e instanceof QueueFullError && e.maxQueue === 3 && e.taskId === 't6' && /queue is full \(maxQueue 3/.test(e.message),
    );
    assert.equal(rejected.length, 1);
    assert.equal(rejected[0][0], 't6');
    assert.ok(rejected[0][1] instanceof QueueFullError);
    assert.equal(queue.backlog, 5);
    await finish('t1'); // t3 starts, a waiting place frees up
    assert.equal(queue.waiting, 2);
    queue.submit(job('t6'));
    assert.equal(queue.backlog, 5);
  });
  it('maxQueue 0 runs up to concurrency and queues nothing', () => {
    const { queue, job } = harness({ concurrency: 1, maxQueue: 0 });
    queue.submit(job('t1'));
    assert.throws(() => queue.submit(job('t2')), QueueFullError);
  });
  it('never runs more than concurrency workers at once, and uses all of them', async () => {
    const { queue, job, finish, stats, pending } = harness({ concurrency: 3, maxQueue: 20 });
    for (let i = 1; i <= 10; i++) queue.submit(job(`t${i}`));
    assert.equal(stats.active, 3);
    // Finish running tasks in a scrambled order (newest, then oldest, ...); each starts a waiting one.
    for (let k = 0; queue.running > 0; k++) {
      assert.ok(stats.active <= 3);
      const running = [...pending.keys()];
      await finish(k % 2 === 0 ? running[running.length - 1] : running[0]);
    }
    assert.equal(stats.maxActive, 3);
    assert.equal(queue.completed, 10);
    assert.equal(queue.backlog, 0);
    assert.deepEqual(stats.started, ['t1', 't2', 't3', 't4', 't5', 't6', 't7', 't8', 't9', 't10']);
  });
});

describe('TaskQueueManager: measurement', () => {
  it('feeds each latency, from start to finish on the injected clock, into the capacity computer', async () => {
    const capacity = new CapacityComputer({ concurrency: 1, epochSeconds: 300, safetyMargin: 1 });
    const { queue, job, finish, clock } = harness({ concurrency: 1, maxQueue: 5, capacity });
    const latencies: number[] = [];
    queue.on('completed', (_task, _result, latency) => latencies.push(latency));
    queue.submit(job('a')); // starts at t = 0
    queue.submit(job('b')); // waits
    clock.t = 2000;
    await finish('a'); // b starts at t = 2000
    clock.t = 5000;
    await finish('b');
    assert.deepEqual(latencies, [2, 3]); // b's wait is not latency
    assert.equal(capacity.observed, 2);
    assert.equal(capacity.latency, 2.5);
    assert.deepEqual(queue.signal(), { capacity: 120n, backlog: 0n, changed: true }); // 1 × 300 / 2.5
  });
  it('creates its own computer with the queue\'s concurrency and reports backlog through signal()', async () => {
    const { queue, job, finish, clock } = harness({ concurrency: 4, maxQueue: 5 });
    assert.equal(queue.capacity.concurrency, 4);
    for (const id of ['a', 'b', 'c', 'd', 'e']) queue.submit(job(id));
    clock.t = 2000;
    await finish('a');
    assert.deepEqual(queue.signal(), { capacity: 570n, backlog: 4n, changed: true }); // 4 × 300 / 2 × 0.95
  });
  it('counts a worker that throws or rejects as failed, with no unhandled rejection', async () => {
    const capacity = new CapacityComputer({ concurrency: 2, epochSeconds: 300 });
    const queue = new TaskQueueManager<Job>({
      concurrency: 2,
      maxQueue: 2,
      capacity,
      now: () => 0,
      worker: (task) => {
        if (task.id === 'sync') throw new Error('thrown');
        return task.id === 'async' ? Promise.reject(new Error('rejected')) : Promise.resolve('ok');
      },
    });
    const failed: [string, string][] = [];
    queue.on('failed', (task, error) => failed.push([task.id, (error as Error).message]));
    queue.submit({ id: 'sync', value: 0 });
    queue.submit({ id: 'async', value: 0 });
    queue.submit({ id: 'fine', value: 0 });
    await queue.drain();
    assert.deepEqual(failed, [['sync', 'thrown'], ['async', 'rejected']]);
    assert.equal(queue.failed, 2);
    assert.equal(queue.completed, 1);
    assert.equal(capacity.errorRate, 2 / 3);
  });
});

describe('TaskQueueManager: ids and draining', () => {
  it('refuses a duplicate id while the first is waiting or running, and accepts it again afterwards', async () => {
    const { queue, job, finish } = harness({ concurrency: 1, maxQueue: 5 });
    queue.submit(job('x')); // running
    queue.submit(job('y')); // waiting
    assert.throws(() => queue.submit(job('x')), (e: unknown) => e instanceof DuplicateTaskError && /task x refused: a task with this id/.test(e.message));
    assert.throws(() => queue.submit(job('y')), DuplicateTaskError);
    assert.equal(queue.backlog, 2);
    await finish('x');
    queue.submit(job('x'));
    assert.equal(queue.backlog, 2);
  });
  it('drain() refuses new tasks, declares 0 and resolves only after in-flight and waiting work finished', async () => {
    const { queue, job, finish, clock } = harness({ concurrency: 2, maxQueue: 5 });
    for (const id of ['a', 'b', 'c']) queue.submit(job(id));
    clock.t = 1000;
    await finish('a');
    assert.equal(queue.signal().capacity > 0n, true);
    let drained = false;
    let events = 0;
    queue.on('drained', () => events++);
    const done = queue.drain().then(() => (drained = true));
    assert.equal(queue.draining, true);
    assert.throws(() => queue.submit(job('d')), QueueDrainingError);
    assert.deepEqual(queue.signal(), { capacity: 0n, backlog: 2n, changed: true });
    await finish('b');
    assert.equal(drained, false);
    await finish('c');
    await done;
    assert.equal(drained, true);
    assert.equal(events, 1);
    assert.equal(queue.completed, 3);
    assert.equal(queue.backlog, 0);
  });
  it('drain() of an idle queue resolves at once', async () => {
    const { queue } = harness({ concurrency: 1, maxQueue: 1 });
    await queue.drain();
    assert.equal(queue.draining, true);
  });
});

describe('TaskQueueManager: options', () => {
  const worker = async () => 0;
  it('rejects bad options with a RangeError naming the field', () => {
    assert.throws(() => new TaskQueueManager({ worker, concurrency: 0, maxQueue: 1, epochSeconds: 300 }), /concurrency must be a positive integer, got 0/);
    assert.throws(() => new TaskQueueManager({ worker, concurrency: 1, maxQueue: -1, epochSeconds: 300 }), /maxQueue must be an integer >= 0, got -1/);
    assert.throws(() => new TaskQueueManager({ worker, concurrency: 1, maxQueue: 1 }), /epochSeconds is required/);
    const capacity = new CapacityComputer({ concurrency: 2, epochSeconds: 300 });
    assert.throws(() => new TaskQueueManager({ worker, concurrency: 1, maxQueue: 1, capacity }), /concurrency 2, the queue 1/);
  });
});

describe('package entry', () => {
  it('exports the SDK building blocks from src/index.ts', async () => {
    const entry = await import('../../src/index.ts');
    assert.equal(entry.CapacityComputer, CapacityComputer);
    assert.equal(entry.TaskQueueManager, TaskQueueManager);
    assert.equal(entry.QueueFullError, QueueFullError);
    assert.equal(typeof entry.deployBpe, 'function'); // the existing exports stay
  });
});
