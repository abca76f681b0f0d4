//! The requests a client sends that the authority decides (each with a
//! `request_id`), as values: to send again, and to alter under the same id.

#![allow(dead_code)]

use kinko_client::api::{
    AmountRequest, Decided, DepositRequest, FailRequest, IdRequest, SignedRequest,
    WithdrawalRequest,
};
use kinko_client::{Client, ClientError};

/// One request the authority decides, as a client sends it.
#[derive(Debug, Clone)]
pub enum Call {
    Withdraw(WithdrawalRequest),
    Approve(String, SignedRequest),
    Confirm(String, IdRequest),
    Fail(String, FailRequest),
    Deposit(DepositRequest),
    HotBalance(AmountRequest),
    Unfreeze(SignedRequest),
}

impl Call {
    pub fn request_id(&self) -> &str {
        match self {
            Call::Withdraw(r) => &r.request_id,
            Call::Approve(_, r) | Call::Unfreeze(r) => &r.request_id,
            Call::Confirm(_, r) => &r.request_id,
            Call::Fail(_, r) => &r.request_id,
            Call::Deposit(r) => &r.request_id,
            Call::HotBalance(r) => &r.request_id,
        }
    }

    pub fn name(&self) -> &'static str {
        match self {
            Call::Withdraw(_) => "withdraw",
            Call::Approve(..) => "approve",
            Call::Confirm(..) => "confirm",
            Call::Fail(..) => "fail",
            Call::Deposit(_) => "deposit",
            Call::HotBalance(_) => "hot-balance",
            Call::Unfreeze(_) => "unfreeze",
        }
    }

    /// The withdrawal an `approved` answer approved.
    pub fn withdrawal(&self) -> Option<&str> {
        match self {
            Call::Withdraw(r) => Some(&r.id),
            Call::Approve(id, _) => Some(id),
            _ => None,
        }
    }

    pub fn send(&self, c: &Client) -> Result<Decided, ClientError> {
        match self {
            Call::Withdraw(r) => c.request_withdrawal(r),
            Call::Approve(id, r) => c.approve(id, r),
            Call::Confirm(id, r) => c.confirm(id, r),
            Call::Fail(id, r) => c.fail(id, r),
            Call::Deposit(r) => c.report_deposit(r),
            Call::HotBalance(r) => c.report_hot_balance(r),
            Call::Unfreeze(r) => c.unfreeze(r),
        }
    }

    /// Another request under the same request id: another amount, or
    /// another endpoint where the body is only the id.
    pub fn altered(&self) -> Call {
        let id_only = IdRequest {
            request_id: self.request_id().to_owned(),
        };
        match self {
            Call::Withdraw(r) => Call::Withdraw(WithdrawalRequest {
                amount_sat: r.amount_sat + 1,
                ..r.clone()
            }),
            Call::Deposit(r) => Call::Deposit(DepositRequest {
                amount_sat: r.amount_sat + 1,
                ..r.clone()
            }),
            Call::HotBalance(r) => Call::HotBalance(AmountRequest {
                amount_sat: r.amount_sat + 1,
                ..r.clone()
            }),
            Call::Approve(id, _) | Call::Fail(id, _) => Call::Confirm(id.clone(), id_only),
            Call::Confirm(id, _) => Call::Fail(
                id.clone(),
                FailRequest {
                    request_id: id_only.request_id,
                    conflict: None,
                },
            ),
            Call::Unfreeze(_) => Call::HotBalance(AmountRequest {
                request_id: id_only.request_id,
                amount_sat: 1,
            }),
        }
    }
}

/// A failure report without conflict evidence.
pub fn fail(id: String, request_id: String) -> Call {
    Call::Fail(
        id,
        FailRequest {
            request_id,
            conflict: None,
        },
    )
}
