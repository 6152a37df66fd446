/** The BPE dashboard: a live view of one deployment (docs/dashboard.md). */
export { startDashboard, type Dashboard, type DashboardOptions, type PublishedEvent } from './server.ts';
export {
  DashboardState,
  formatAmount,
  type DashboardExtra,
  type DashboardStateOptions,
  type EventEntry,
  type ExtraSource,
  type Sample,
  type SinkView,
  type Snapshot,
  type SourceView,
  type TaskTypeView,
} from './state.ts';
