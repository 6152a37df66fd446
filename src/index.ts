/**
 * backpressure-economics: the agent-facing API. What a sink or a source needs to act on a BPE
 * deployment (typed chain actions and the verification messages), to deploy BPE onto a chain
 * where Superfluid runs, or to start a whole local world (anvil + Superfluid + BPE) in one call.
 *
 * Lower levels have their own entry points: `backpressure-economics/core` (the allocation math)
 * and `backpressure-economics/chain` (clients, anvil, Superfluid deployment, ABIs and bytecode).
 */
export * from './chain/bpe/actions.ts';
export { write } from './chain/deploy.ts';
export * from './chain/bpe/verification.ts';
export { deployBpe, DEFAULT_PARAMS } from './chain/bpe/deploy.ts';
export type { BpeParams, BpeDeployOptions, BpeDeployment } from './chain/bpe/deploy.ts';
export { startLocalStack } from './chain/bpe/localStack.ts';
export type { LocalStack, LocalStackOptions } from './chain/bpe/localStack.ts';
export { deploySuperfluid, deployTestSuperToken } from './chain/superfluid.ts';
export type { SuperfluidFramework, TestSuperToken, TestSuperTokenOptions } from './chain/superfluid.ts';
// The sink's runtime, pure (no chain): the capacity signal it declares, from what it measures, and
// the bounded task queue that does the measuring.
export { CapacityComputer, DEFAULT_SAFETY_MARGIN, DEFAULT_WINDOW_SIZE } from './sdk/capacityComputer.ts';
export type { CapacityComputerOptions, CapacitySignal, CapacityState } from './sdk/capacityComputer.ts';
export { TaskQueueManager, TaskRejectedError, QueueFullError, DuplicateTaskError, QueueDrainingError } from './sdk/taskQueue.ts';
export type { Task, Worker, TaskQueueOptions, TaskQueueEvents } from './sdk/taskQueue.ts';
// The source's runtime: its stream into a task type's pool, checkpointed before every change and
// paused (or reduced) while the task type's escrow buffer is saturated.
export { StreamLifecycle, UnknownTaskTypeError, InsufficientBalanceError, RateRoundsToZeroError, DEFAULT_RESUME_BELOW_BPS } from './sdk/streamLifecycle.ts';
export type { StreamLifecycleOptions, StreamLifecycleEvents, StreamState, SaturationInfo } from './sdk/streamLifecycle.ts';
// The sink's capacity declaration by commit-reveal: the nonce is stored durably before the commit is
// sent, so a crash between commit and reveal never loses the declaration; typed contract errors.
export { SinkDeclarer } from './sdk/sinkDeclarer.ts';
export type { SinkDeclarerOptions, DeclareResult } from './sdk/sinkDeclarer.ts';
export { FileCommitmentStore, InMemoryCommitmentStore, CommitmentStoreCorruptError, commitmentKeyString } from './sdk/commitmentStore.ts';
export type { CommitmentStore, CommitmentKey, PendingCommitment } from './sdk/commitmentStore.ts';
export { BpeError, UpdateTooFrequentError, CommitmentPendingError, CommitmentExpiredError, toBpeError } from './sdk/errors.ts';
// Clients of the BPE services: the capacity oracle (signed attestations) and the verifier
// (completion receipts); typed failures, retries with backoff.
export { OracleClient, attestationToJson } from './sdk/oracleClient.ts';
export type { OracleClientOptions, AttestationJson } from './sdk/oracleClient.ts';
export { VerifierClient, receiptToJson } from './sdk/verifierClient.ts';
export type { VerifierClientOptions, SignedReceipt, SignedReceiptJson } from './sdk/verifierClient.ts';
export { ServiceClient, toJsonBody } from './sdk/serviceClient.ts';
export type { ServiceClientOptions, CallOptions, ItemResult } from './sdk/serviceClient.ts';
export { ServiceError, ServiceRejectedError, ServiceUnavailableError, ServiceResponseError } from './sdk/errors.ts';
// The agents: a sink operator's whole runtime (stake, register, declare on a schedule, checked task
// intake, receipts, unearned pay handed back) and a source's (stream + weighted task hand-out).
export { SinkAgent, RequestRefusedError, ItemRejectedError } from './sdk/sinkAgent.ts';
export type { SinkAgentOptions, SinkAgentEvents, SinkWorker, RefusalReason, AttestedInfo, UpdateResult, ReceiptInfo, SettleResult } from './sdk/sinkAgent.ts';
export { SourceAgent, SourcePausedError, NoSinkAvailableError, weightedPick } from './sdk/sourceAgent.ts';
export type { SourceAgentOptions, SourceAgentEvents, SinkShare } from './sdk/sourceAgent.ts';
export { InProcessTransport, SinkUnreachableError } from './sdk/transport.ts';
export type { TaskTransport, SinkEndpoint } from './sdk/transport.ts';
export { HttpTransport, serveSinkAgent, RemoteTaskError, TASKS_PATH } from './sdk/httpTransport.ts';
export type { HttpTransportOptions, SinkServer } from './sdk/httpTransport.ts';
