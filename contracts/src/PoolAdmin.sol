// SPDX-License-Identifier: MIT
pragma solidity ^0.8.26;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {
    ISuperfluidPool
} from "@superfluid-finance/ethereum-contracts/contracts/interfaces/agreements/gdav1/ISuperfluidPool.sol";

/// @title PoolAdmin: the admin account of one task type's GDA pool.
/// @notice The GDA sends a pool's rounding remainder to the pool's admin. With one admin for all
/// pools, the remainders of every task type sharing a token would mix in one balance, and whoever
/// swept first could credit them all to a task type of their own. One admin per task type keeps
/// each pool's remainder in its own account, so a sweep credits exactly what that pool produced.
/// @dev Deployed by the BackpressurePool for each task type; only it may act.
contract PoolAdmin {
    using SafeERC20 for IERC20;

    error NotOwner(address caller);

    address public immutable owner;

    constructor() {
        owner = msg.sender;
    }

    modifier onlyOwner() {
        if (msg.sender != owner) revert NotOwner(msg.sender);
        _;
    }

    function updateMemberUnits(ISuperfluidPool pool, address member, uint128 units) external onlyOwner {
        pool.updateMemberUnits(member, units);
    }

    /// @notice Sends everything this admin holds of `token` (its pool's remainder) to `to`.
    function sweep(IERC20 token, address to) external onlyOwner returns (uint256 amount) {
        amount = token.balanceOf(address(this));
        if (amount != 0) token.safeTransfer(to, amount);
    }
}
