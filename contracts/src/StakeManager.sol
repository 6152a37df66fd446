// SPDX-License-Identifier: MIT
pragma solidity ^0.8.26;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {IStakeManager} from "./interfaces/IStakeManager.sol";
import {ICapacityRegistry} from "./interfaces/ICapacityRegistry.sol";
import {CapacityMath} from "./libraries/CapacityMath.sol";

/// @title StakeManager: sink stakes, their capacity caps, unbonding and slashing.
/// @notice A stake is locked while it backs any registration. Leaving takes deregistration,
/// `unstake` (which starts the unbonding clock) and `withdraw` after `unbondingPeriod`; stake
/// stays slashable until withdrawn, so a sink cannot run from a pending slash. There is no owner:
/// only the slasher fixed at deployment can take stake, and only to the recipient fixed at
/// deployment.
contract StakeManager is IStakeManager {
    using SafeERC20 for IERC20;

    event WithdrawRequested(address indexed sink, uint256 amount, uint256 releaseAt);
    event Withdrawn(address indexed sink, uint256 amount);

    error ZeroAmount();
    error InsufficientStake(uint256 available, uint256 requested);
    error StakeLocked(uint256 registrations);
    error StillUnbonding(uint256 releaseAt);
    error NothingToWithdraw();
    error NotSlasher(address caller);
    error NotRegistry(address caller);
    error NotRegistered(address sink);

    struct Account {
        uint256 staked; // counts towards the cap
        uint256 unbonding; // leaving, still slashable
        uint64 releaseAt; // when `unbonding` may be withdrawn
        uint32 registrations; // how many task-type registrations this stake backs
    }

    IERC20 public immutable stakeToken;
    ICapacityRegistry public immutable registry;
    address public immutable slasher;
    address public immutable slashRecipient;
    uint256 public immutable stakeUnit;
    uint256 public immutable minSinkStake;
    uint64 public immutable unbondingPeriod;

    mapping(address => Account) private _accounts;

    constructor(
        IERC20 stakeToken_,
        ICapacityRegistry registry_,
        address slasher_,
        address slashRecipient_,
        uint256 stakeUnit_,
        uint256 minSinkStake_,
        uint64 unbondingPeriod_
    ) {
        stakeToken = stakeToken_;
        registry = registry_;
        slasher = slasher_;
        slashRecipient = slashRecipient_;
        stakeUnit = stakeUnit_;
        minSinkStake = minSinkStake_;
        unbondingPeriod = unbondingPeriod_;
    }

    modifier onlyRegistry() {
        if (msg.sender != address(registry)) revert NotRegistry(msg.sender);
        _;
    }

    /// @inheritdoc IStakeManager
    function stake(uint256 amount) external {
        if (amount == 0) revert ZeroAmount();
        Account storage account = _accounts[msg.sender];
        account.staked += amount;
        emit Staked(msg.sender, amount, account.staked);
        stakeToken.safeTransferFrom(msg.sender, address(this), amount);
    }

    /// @inheritdoc IStakeManager
    /// @dev Starts unbonding `amount`; it stops counting towards the cap at once and becomes
    /// withdrawable after `unbondingPeriod`. A new request restarts the clock for the whole
    /// unbonding balance, so stake cannot be released early by splitting requests.
    function unstake(uint256 amount) external {
        if (amount == 0) revert ZeroAmount();
        Account storage account = _accounts[msg.sender];
        if (account.registrations != 0) revert StakeLocked(account.registrations);
        if (amount > account.staked) revert InsufficientStake(account.staked, amount);
        account.staked -= amount;
        account.unbonding += amount;
        uint64 releaseAt = uint64(block.timestamp) + unbondingPeriod;
        account.releaseAt = releaseAt;
        emit Unstaked(msg.sender, amount);
        emit WithdrawRequested(msg.sender, amount, releaseAt);
    }

    /// @notice Pays out the unbonded stake once the unbonding period has passed.
    function withdraw() external {
        Account storage account = _accounts[msg.sender];
        uint256 amount = account.unbonding;
        if (amount == 0) revert NothingToWithdraw();
        if (block.timestamp < account.releaseAt) revert StillUnbonding(account.releaseAt);
        account.unbonding = 0;
        emit Withdrawn(msg.sender, amount);
        stakeToken.safeTransfer(msg.sender, amount);
    }

    /// @inheritdoc IStakeManager
    /// @dev Takes from the active stake first, then from unbonding stake; never more than the sink
    /// has. The registry re-applies the lower cap in the same transaction, so capacity and pool
    /// units drop at once.
    function slash(address sink, uint256 amount, bytes32 reason) external {
        if (msg.sender != slasher) revert NotSlasher(msg.sender);
        if (amount == 0) revert ZeroAmount();
        Account storage account = _accounts[sink];
        uint256 fromStaked = amount < account.staked ? amount : account.staked;
        uint256 rest = amount - fromStaked;
        uint256 fromUnbonding = rest < account.unbonding ? rest : account.unbonding;
        uint256 taken = fromStaked + fromUnbonding;
        if (taken == 0) revert InsufficientStake(0, amount);
        account.staked -= fromStaked;
        account.unbonding -= fromUnbonding;
        emit Slashed(sink, taken, reason);
        if (fromStaked != 0 && account.registrations != 0) registry.onStakeChanged(sink);
        stakeToken.safeTransfer(slashRecipient, taken);
    }

    /// @notice Marks the stake as backing one more registration (called on sink registration).
    function lock(address sink) external onlyRegistry {
        _accounts[sink].registrations += 1;
    }

    /// @notice Releases one registration's hold on the stake (called on deregistration).
    function unlock(address sink) external onlyRegistry {
        Account storage account = _accounts[sink];
        if (account.registrations == 0) revert NotRegistered(sink);
        account.registrations -= 1;
    }

    /// @inheritdoc IStakeManager
    function getCapacityCap(address sink) external view returns (uint256) {
        return CapacityMath.capacityCap(_accounts[sink].staked, minSinkStake, stakeUnit);
    }

    /// @inheritdoc IStakeManager
    function getStake(address sink) external view returns (uint256) {
        return _accounts[sink].staked;
    }

    /// @notice The full account: active stake, unbonding stake, its release time, registrations.
    function accountOf(address sink) external view returns (Account memory) {
        return _accounts[sink];
    }
}
