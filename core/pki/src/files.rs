//! Reading and writing the PKI's files: private keys are 0600 from the moment they exist, and
//! every file is written whole (temporary file, then rename) so a reader never sees half of one.

use std::fs;
use std::io::Write;
use std::path::Path;

use zeroize::Zeroizing;

use crate::PkiError;

/// Who may read a file once written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Access {
    /// Certificates and the revocation list: 0644 (as the umask allows).
    Public,
    /// Private keys: 0600.
    Private,
}

/// Creates `dir` (and its parents) if missing, and makes `dir` itself 0700 either way.
pub(crate) fn private_dir(dir: &Path) -> Result<(), PkiError> {
    if !dir.is_dir() {
        create_dir(dir)?;
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(dir, fs::Permissions::from_mode(0o700))
            .map_err(|error| PkiError::io("set permissions of", dir, error))?;
    }
    Ok(())
}

/// Creates `dir` 0700 if it is missing; an existing directory is left as it is.
pub(crate) fn new_private_dir(dir: &Path) -> Result<(), PkiError> {
    if dir.is_dir() {
        return Ok(());
    }
    create_dir(dir)
}

fn create_dir(dir: &Path) -> Result<(), PkiError> {
    if let Some(parent) = dir.parent().filter(|parent| !parent.as_os_str().is_empty()) {
        fs::create_dir_all(parent).map_err(|error| PkiError::io("create", parent, error))?;
    }
    let mut builder = fs::DirBuilder::new();
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder
        .create(dir)
        .map_err(|error| PkiError::io("create", dir, error))
}

/// Writes `path` whole: a temporary file beside it with the final mode, then a rename.
pub(crate) fn write(path: &Path, contents: &[u8], access: Access) -> Result<(), PkiError> {
    let file_name = path
        .file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_default();
    let temporary = path.with_file_name(format!(".{file_name}.tmp"));
    let _ = fs::remove_file(&temporary);
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(match access {
            Access::Public => 0o644,
            Access::Private => 0o600,
        });
    }
    #[cfg(not(unix))]
    let _ = access;
    let written = options.open(&temporary).and_then(|mut file| {
        file.write_all(contents)?;
        file.sync_all()
    });
    if let Err(error) = written {
        let _ = fs::remove_file(&temporary);
        return Err(PkiError::io("write", path, error));
    }
    fs::rename(&temporary, path).map_err(|error| PkiError::io("write", path, error))
}

/// Reads a file, naming it in the error.
pub(crate) fn read(path: &Path) -> Result<Vec<u8>, PkiError> {
    fs::read(path).map_err(|error| PkiError::io("read", path, error))
}

/// Reads a private key, cleared from memory when dropped.
pub(crate) fn read_secret(path: &Path) -> Result<Zeroizing<Vec<u8>>, PkiError> {
    read(path).map(Zeroizing::new)
}
