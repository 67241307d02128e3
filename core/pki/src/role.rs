//! The role a client certificate carries in its subject OU, deciding what the client may call.

use std::fmt;
use std::str::FromStr;

use crate::PkiError;

/// What kind of client a certificate belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// 再来受付機: check-in and card checks on the readers its configuration names.
    Kiosk,
    /// レセコン (receipt computer): checks, the reception list, patient links, bulk checks.
    Reception,
    /// Facility administration: activation codes, visual-check passwords, plugins, the audit trail.
    Admin,
}

impl Role {
    /// Every role, in the order they are listed to people.
    pub const ALL: [Role; 3] = [Role::Kiosk, Role::Reception, Role::Admin];

    /// The name written into certificates and accepted on the command line.
    pub fn as_str(&self) -> &'static str {
        match self {
            Role::Kiosk => "kiosk",
            Role::Reception => "reception",
            Role::Admin => "admin",
        }
    }
}

impl FromStr for Role {
    type Err = PkiError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Role::ALL
            .into_iter()
            .find(|role| role.as_str() == text)
            .ok_or_else(|| PkiError::BadRole(text.to_owned()))
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for role in Role::ALL {
            assert_eq!(role.as_str().parse::<Role>().unwrap(), role);
        }
        assert!("Admin".parse::<Role>().is_err());
        assert!("local".parse::<Role>().is_err());
    }
}
