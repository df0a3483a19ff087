//! Who may call an operation: the rules of a resource's `access:` in the spec, as data the
//! generator writes into each resource's [`Description`](crate::engine::Description).

use crate::engine::{Caller, Operation};
use crate::problem::Problem;

/// The access rule of one operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rule {
    /// Anyone, with or without credentials.
    Public,
    /// Any authenticated caller.
    Authenticated,
    /// An authenticated caller with at least one of these roles.
    Roles(&'static [&'static str]),
}

impl Rule {
    /// `Ok` when `caller` may pass: 401 without a caller, 403 without a role.
    pub fn check(self, caller: Option<&Caller>) -> Result<(), Problem> {
        match (self, caller) {
            (Rule::Public, _) => Ok(()),
            (_, None) => Err(Problem::unauthorized(
                "this operation needs credentials: a bearer token or an API key",
            )),
            (Rule::Authenticated, Some(_)) => Ok(()),
            (Rule::Roles(roles), Some(caller)) => {
                if roles.iter().any(|r| caller.has_role(r)) {
                    Ok(())
                } else {
                    Err(Problem::forbidden(format!(
                        "this operation needs the role {}",
                        roles.join(" or ")
                    )))
                }
            }
        }
    }

    /// Whether the rule lets anyone in (then a response may be shared between callers).
    pub fn is_public(self) -> bool {
        self == Rule::Public
    }
}

/// The rules of a resource's operations, and its owner field.
#[derive(Debug, Clone, Copy)]
pub struct Access {
    pub list: Rule,
    pub get: Rule,
    pub create: Rule,
    pub update: Rule,
    pub delete: Rule,
    pub export: Rule,
    /// The column holding the owner's subject: callers see, change and create only rows
    /// whose owner is themselves (another caller's row is a 404).
    pub owner: Option<&'static str>,
}

impl Access {
    /// Every operation public, no owner: an API without `auth`.
    pub const PUBLIC: Access = Access {
        list: Rule::Public,
        get: Rule::Public,
        create: Rule::Public,
        update: Rule::Public,
        delete: Rule::Public,
        export: Rule::Public,
        owner: None,
    };

    /// The rule of `op` (rankings follow `list`: they are lists of rows).
    pub fn rule(&self, op: Operation) -> Rule {
        match op {
            Operation::List | Operation::Ranking => self.list,
            Operation::Get => self.get,
            Operation::Create => self.create,
            Operation::Update => self.update,
            Operation::Delete => self.delete,
            Operation::Export => self.export,
        }
    }

    /// Whether the response of `op` depends on who calls: not public, or owned rows.
    /// Such responses are `Cache-Control: private`.
    pub fn is_private(&self, op: Operation) -> bool {
        self.owner.is_some() || !self.rule(op).is_public()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules() {
        let admin = Caller::new("1").with_roles(["admin"]);
        let user = Caller::new("2");
        assert!(Rule::Public.check(None).is_ok());
        assert_eq!(Rule::Authenticated.check(None).unwrap_err().status, 401);
        assert!(Rule::Authenticated.check(Some(&user)).is_ok());
        let admins = Rule::Roles(&["admin", "ops"]);
        assert!(admins.check(Some(&admin)).is_ok());
        assert_eq!(admins.check(Some(&user)).unwrap_err().status, 403);
        assert_eq!(admins.check(None).unwrap_err().status, 401);
    }
}
