//! The list of kernel functions a driver image may import (drivers/windows/imports.txt).

use std::collections::BTreeSet;
use std::fmt;

/// The modules whose exports a kernel-mode driver may import: the kernel itself, the HAL, and the
/// two port drivers the xenpv miniports bind to. Anything else (kernel32.dll, msvcrt.dll,
/// vcruntime140.dll, ucrtbase.dll, api-ms-win-*) is a user-mode DLL the kernel cannot load.
pub const KERNEL_MODULES: [&str; 4] = ["ntoskrnl.exe", "hal.dll", "ndis.sys", "storport.sys"];

/// Whether `module` is one of [`KERNEL_MODULES`] (module names compare case-insensitively, as the
/// loader compares them).
pub fn is_kernel_module(module: &str) -> bool {
    KERNEL_MODULES
        .iter()
        .any(|kernel| kernel.eq_ignore_ascii_case(module))
}

/// The allowed imports: `module!name` pairs, the module in lower case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllowedImports {
    entries: BTreeSet<(String, String)>,
}

/// A line of the list that is not `module!name` with a kernel module.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ListError {
    /// The line is not `module!name` with both parts non-empty and no spaces.
    Malformed { line: usize, text: String },
    /// The module is not one a kernel driver may import from.
    NotAKernelModule { line: usize, module: String },
    /// The same entry twice: a sign the list was edited carelessly.
    Duplicate { line: usize, entry: String },
}

impl fmt::Display for ListError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ListError::Malformed { line, text } => {
                write!(f, "line {line}: expected `module!name`, found {text:?}")
            }
            ListError::NotAKernelModule { line, module } => write!(
                f,
                "line {line}: {module} is not a kernel module ({})",
                KERNEL_MODULES.join(", ")
            ),
            ListError::Duplicate { line, entry } => write!(f, "line {line}: {entry} again"),
        }
    }
}

impl std::error::Error for ListError {}

impl AllowedImports {
    /// Parses the list: one `module!name` per line; blank lines and `#` comments are skipped.
    pub fn parse(text: &str) -> Result<Self, ListError> {
        let mut entries = BTreeSet::new();
        for (index, raw) in text.lines().enumerate() {
            let line = index + 1;
            let entry = raw.trim();
            if entry.is_empty() || entry.starts_with('#') {
                continue;
            }
            let malformed = || ListError::Malformed {
                line,
                text: raw.to_string(),
            };
            let (module, name) = entry.split_once('!').ok_or_else(malformed)?;
            if module.is_empty()
                || name.is_empty()
                || entry.contains(char::is_whitespace)
                || name.contains('!')
            {
                return Err(malformed());
            }
            if !is_kernel_module(module) {
                return Err(ListError::NotAKernelModule {
                    line,
                    module: module.to_string(),
                });
            }
            if !entries.insert((module.to_ascii_lowercase(), name.to_string())) {
                return Err(ListError::Duplicate {
                    line,
                    entry: entry.to_string(),
                });
            }
        }
        Ok(AllowedImports { entries })
    }

    /// Whether `name` from `module` is on the list (module case-insensitive, name exact).
    pub fn allows(&self, module: &str, name: &str) -> bool {
        self.entries
            .contains(&(module.to_ascii_lowercase(), name.to_string()))
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_comments_and_blank_lines() {
        let list = AllowedImports::parse(
            "# kernel\n\nntoskrnl.exe!IoCreateDevice\n  HAL.dll!KeStallExecutionProcessor  \n",
        )
        .unwrap();
        assert_eq!(list.len(), 2);
        assert!(list.allows("ntoskrnl.exe", "IoCreateDevice"));
        assert!(list.allows("NTOSKRNL.EXE", "IoCreateDevice"));
        assert!(list.allows("hal.dll", "KeStallExecutionProcessor"));
        // Names are case-sensitive, as the loader matches them.
        assert!(!list.allows("ntoskrnl.exe", "iocreatedevice"));
        assert!(!list.allows("hal.dll", "IoCreateDevice"));
    }

    #[test]
    fn malformed_lines_are_refused_with_their_number() {
        for text in [
            "IoCreateDevice",
            "ntoskrnl.exe!",
            "!memcpy",
            "ntoskrnl.exe ! memcpy",
        ] {
            assert_eq!(
                AllowedImports::parse(&format!("# x\n{text}\n")),
                Err(ListError::Malformed {
                    line: 2,
                    text: text.to_string()
                })
            );
        }
    }

    #[test]
    fn user_mode_modules_and_duplicates_are_refused() {
        assert_eq!(
            AllowedImports::parse("kernel32.dll!CreateFileW"),
            Err(ListError::NotAKernelModule {
                line: 1,
                module: "kernel32.dll".into()
            })
        );
        assert_eq!(
            AllowedImports::parse("ntoskrnl.exe!memcpy\nNTOSKRNL.EXE!memcpy"),
            Err(ListError::Duplicate {
                line: 2,
                entry: "NTOSKRNL.EXE!memcpy".into()
            })
        );
    }

    #[test]
    fn the_projects_list_parses() {
        let text = include_str!("../../imports.txt");
        let list = AllowedImports::parse(text).unwrap_or_else(|e| panic!("imports.txt: {e}"));
        assert!(list.allows("ntoskrnl.exe", "IoCreateDevice"));
        assert!(!list.is_empty());
    }
}
