// SPDX-License-Identifier: MIT
pragma solidity ^0.8.26;

import {ISuperfluid} from "@superfluid-finance/ethereum-contracts/contracts/interfaces/superfluid/ISuperfluid.sol";
import {ISuperToken} from "@superfluid-finance/ethereum-contracts/contracts/interfaces/superfluid/ISuperToken.sol";

/// @title SuperfluidBound: a contract tied to one Superfluid deployment, fixed at construction.
/// @notice Superfluid's SuperTokenV1Library finds the host and the agreements through the first
/// token a contract touches (`token.getHost()`) and caches them in that contract's storage for
/// good. Left to itself, whoever names the first token (a decoy whose "host" is theirs) would
/// choose the GDA every later call of the contract goes to. So the host is a constructor
/// argument, the library's cache is written here before any user can call, and every token a
/// user names must answer `getHost() == host` (`_requireOurToken`).
/// @dev The slots are the library's own (keccak256 of "org.superfluid-finance.apps.
/// SuperTokenLibrary.v1.host" / ".cfa" / ".gda"); with them set the library never asks a token.
abstract contract SuperfluidBound {
    error ForeignToken(ISuperToken token, address tokenHost);
    error NotASuperfluidHost(address host);

    bytes32 private constant _HOST_SLOT = 0x65599bf746e17a00ea62e3610586992d88101b78eec3cf380706621fb97ea837;
    bytes32 private constant _CFA_SLOT = 0xb969d79d88acd02d04ed7ee7d43b949e7daf093d363abcfbbc43dfdfd1ce969a;
    bytes32 private constant _GDA_SLOT = 0xc36f6c05164a669ecb6da53e218d77ae44d51cfc99f91e5a125a18de0949bee4;

    ISuperfluid public immutable host;

    constructor(ISuperfluid host_) {
        address cfa =
            address(host_.getAgreementClass(keccak256("org.superfluid-finance.agreements.ConstantFlowAgreement.v1")));
        address gda = address(
            host_.getAgreementClass(keccak256("org.superfluid-finance.agreements.GeneralDistributionAgreement.v1"))
        );
        if (cfa == address(0) || gda == address(0)) revert NotASuperfluidHost(address(host_));
        host = host_;
        assembly ("memory-safe") {
            sstore(_HOST_SLOT, host_)
            sstore(_CFA_SLOT, cfa)
            sstore(_GDA_SLOT, gda)
        }
    }

    /// @dev A token of another host could route this contract's calls to an attacker's agreements.
    function _requireOurToken(ISuperToken token) internal view {
        address tokenHost = token.getHost();
        if (tokenHost != address(host)) revert ForeignToken(token, tokenHost);
    }
}
