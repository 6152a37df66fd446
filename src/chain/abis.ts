// Typed ABIs (viem infers argument and return types from them) for the Superfluid calls our
// code makes. Written by hand because the packaged JSON ABIs are untyped for TypeScript;
// test/chain/abis.test.ts checks every entry against the packaged artifacts.
import { erc20Abi, parseAbi } from 'viem';

/** Wrapper Super Token (ISuperToken): ERC-20 plus real-time balance and wrapping. */
export const superTokenAbi = [
  ...erc20Abi,
  ...parseAbi([
    'function realtimeBalanceOfNow(address account) view returns (int256 availableBalance, uint256 deposit, uint256 owedDeposit, uint256 timestamp)',
    'function upgrade(uint256 amount)',
    'function upgradeTo(address to, uint256 amount, bytes userData)',
    'function downgrade(uint256 amount)',
    'function getUnderlyingToken() view returns (address tokenAddr)',
  ]),
] as const;

/** Superfluid's TestToken: an ERC-20 anyone may mint (up to a per-call limit set at deployment). */
export const testTokenAbi = [
  ...erc20Abi,
  ...parseAbi(['function mint(address account, uint256 amount) returns (bool)']),
] as const;

/** GDAv1Forwarder: the entry point for GDA operations from EOAs and contracts. */
export const gdaForwarderAbi = parseAbi([
  'struct PoolConfig { bool transferabilityForUnitsOwner; bool distributionFromAnyAddress; }',
  'function createPool(address token, address admin, PoolConfig config) returns (bool success, address pool)',
  'function updateMemberUnits(address pool, address memberAddress, uint128 newUnits, bytes userData) returns (bool success)',
  'function connectPool(address pool, bytes userData) returns (bool)',
  'function disconnectPool(address pool, bytes userData) returns (bool)',
  'function distribute(address token, address from, address pool, uint256 requestedAmount, bytes userData) returns (bool)',
  'function distributeFlow(address token, address from, address pool, int96 requestedFlowRate, bytes userData) returns (bool)',
  'function claimAll(address pool, address memberAddress, bytes userData) returns (bool success)',
  'function getFlowDistributionFlowRate(address token, address from, address to) view returns (int96)',
  'function estimateFlowDistributionActualFlowRate(address token, address from, address to, int96 requestedFlowRate) view returns (int96 actualFlowRate, int96 totalDistributionFlowRate)',
  'function estimateDistributionActualAmount(address token, address from, address to, uint256 requestedAmount) view returns (uint256 actualAmount)',
  'function getNetFlow(address token, address account) view returns (int96)',
  'function isMemberConnected(address pool, address member) view returns (bool)',
  'function isPool(address token, address account) view returns (bool)',
  'function getPoolAdjustmentFlowInfo(address pool) view returns (address recipient, bytes32 flowHash, int96 flowRate)',
]);

/** ISuperfluidPool: a GDA pool's units and per-member accounting. */
export const superfluidPoolAbi = parseAbi([
  'function admin() view returns (address)',
  'function superToken() view returns (address)',
  'function distributionFromAnyAddress() view returns (bool)',
  'function getUnits(address memberAddr) view returns (uint128)',
  'function getTotalUnits() view returns (uint128)',
  'function getTotalConnectedUnits() view returns (uint128)',
  'function getTotalDisconnectedUnits() view returns (uint128)',
  'function getMemberFlowRate(address memberAddr) view returns (int96)',
  'function getTotalFlowRate() view returns (int96)',
  'function getTotalConnectedFlowRate() view returns (int96)',
  'function getTotalDisconnectedFlowRate() view returns (int96)',
  'function getTotalAmountReceivedByMember(address memberAddr) view returns (uint256 totalAmountReceived)',
  'function getClaimableNow(address memberAddr) view returns (int256 claimableBalance, uint256 timestamp)',
  'function claimAll() returns (bool)',
  'function claimAll(address memberAddr) returns (bool)',
]);

/** GeneralDistributionAgreementV1, for what the forwarder does not expose under the same name. */
export const gdaAbi = parseAbi([
  'function getPoolAdjustmentFlowRate(address pool) view returns (int96)',
  'function getFlow(address token, address from, address to) view returns (uint256 lastUpdated, int96 flowRate, uint256 deposit)',
]);
