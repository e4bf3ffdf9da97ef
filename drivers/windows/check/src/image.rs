//! The checks of one driver image.

use std::fmt;

use object::pe;
use object::read::pe::{ExportTarget, Import, PeFile64};
use object::{FileKind, LittleEndian as LE};

use crate::allowed::{is_kernel_module, AllowedImports};

/// The name of the entry point every xenpv driver exports (`/ENTRY:DriverEntry`).
pub const DRIVER_ENTRY: &str = "DriverEntry";

/// One thing wrong with an image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    /// Not a PE image at all, or one the parser cannot read.
    Unreadable(String),
    /// A PE image, but not PE32+ (a 32-bit image, say).
    NotPe32Plus(String),
    /// The machine is not x86-64 (`IMAGE_FILE_MACHINE_AMD64`).
    WrongMachine(u16),
    /// The subsystem is not `IMAGE_SUBSYSTEM_NATIVE`, the one kernel drivers have.
    NotNative(u16),
    /// `IMAGE_FILE_EXECUTABLE_IMAGE` is missing: the linker left unresolved references.
    NotExecutable,
    /// The relocations were stripped: the kernel loads drivers at any address.
    RelocationsStripped,
    /// A DLL characteristic a driver must have is missing (`DYNAMIC_BASE`, `NX_COMPAT`).
    MissingDllCharacteristic(&'static str),
    /// A section is both writable and executable.
    WritableCode(String),
    /// A TLS directory: kernel images have no thread-local storage.
    ThreadLocalStorage,
    /// No export named `DriverEntry`.
    NoDriverEntry,
    /// The entry point is not the exported `DriverEntry`.
    EntryPointIsNotDriverEntry { entry: u32, driver_entry: u32 },
    /// An import from a module that is not the kernel's (a user-mode DLL).
    UserModeImport { module: String, name: String },
    /// An import from a kernel module that is not on the project's list.
    ImportNotAllowed { module: String, name: String },
    /// An import by ordinal, which cannot be checked against the list.
    ImportByOrdinal { module: String, ordinal: u16 },
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Problem::Unreadable(e) => write!(f, "not a readable PE image: {e}"),
            Problem::NotPe32Plus(kind) => write!(f, "not PE32+ but {kind}"),
            Problem::WrongMachine(m) => write!(f, "machine {m:#06x}, not AMD64 (0x8664)"),
            Problem::NotNative(s) => write!(f, "subsystem {s}, not NATIVE (1)"),
            Problem::NotExecutable => write!(f, "IMAGE_FILE_EXECUTABLE_IMAGE is not set"),
            Problem::RelocationsStripped => write!(f, "relocations are stripped"),
            Problem::MissingDllCharacteristic(c) => write!(f, "DLL characteristic {c} missing"),
            Problem::WritableCode(s) => write!(f, "section {s} is writable and executable"),
            Problem::ThreadLocalStorage => write!(f, "a TLS directory (no TLS in the kernel)"),
            Problem::NoDriverEntry => write!(f, "no export named {DRIVER_ENTRY}"),
            Problem::EntryPointIsNotDriverEntry {
                entry,
                driver_entry,
            } => write!(
                f,
                "entry point {entry:#x} is not {DRIVER_ENTRY} ({driver_entry:#x})"
            ),
            Problem::UserModeImport { module, name } => {
                write!(f, "imports {module}!{name}: a user-mode module")
            }
            Problem::ImportNotAllowed { module, name } => write!(
                f,
                "imports {module}!{name}, which is not in drivers/windows/imports.txt"
            ),
            Problem::ImportByOrdinal { module, ordinal } => {
                write!(f, "imports ordinal {ordinal} from {module}")
            }
        }
    }
}

/// What a passing image contains.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    /// Every import as `module!name`, in the image's order.
    pub imports: Vec<String>,
    /// The entry point's RVA (that of `DriverEntry`).
    pub entry: u32,
}

/// Checks a driver image; every problem found is reported, not only the first.
pub fn check_image(bytes: &[u8], allowed: &AllowedImports) -> Result<Summary, Vec<Problem>> {
    match FileKind::parse(bytes) {
        Ok(FileKind::Pe64) => {}
        Ok(kind) => return Err(vec![Problem::NotPe32Plus(format!("{kind:?}"))]),
        Err(e) => return Err(vec![Problem::Unreadable(e.to_string())]),
    }
    let file = PeFile64::parse(bytes).map_err(|e| vec![Problem::Unreadable(e.to_string())])?;
    let mut problems = Vec::new();
    check_headers(&file, &mut problems);
    let entry = file
        .nt_headers()
        .optional_header
        .address_of_entry_point
        .get(LE);
    check_entry(&file, entry, &mut problems);
    let imports = check_imports(&file, allowed, &mut problems);
    if problems.is_empty() {
        Ok(Summary { imports, entry })
    } else {
        Err(problems)
    }
}

fn check_headers(file: &PeFile64<'_>, problems: &mut Vec<Problem>) {
    let headers = file.nt_headers();
    let machine = headers.file_header.machine.get(LE);
    if machine != pe::IMAGE_FILE_MACHINE_AMD64 {
        problems.push(Problem::WrongMachine(machine));
    }
    let subsystem = headers.optional_header.subsystem.get(LE);
    if subsystem != pe::IMAGE_SUBSYSTEM_NATIVE {
        problems.push(Problem::NotNative(subsystem));
    }
    let characteristics = headers.file_header.characteristics.get(LE);
    if characteristics & pe::IMAGE_FILE_EXECUTABLE_IMAGE == 0 {
        problems.push(Problem::NotExecutable);
    }
    if characteristics & pe::IMAGE_FILE_RELOCS_STRIPPED != 0 {
        problems.push(Problem::RelocationsStripped);
    }
    let dll = headers.optional_header.dll_characteristics.get(LE);
    for (flag, name) in [
        (pe::IMAGE_DLLCHARACTERISTICS_DYNAMIC_BASE, "DYNAMIC_BASE"),
        (pe::IMAGE_DLLCHARACTERISTICS_NX_COMPAT, "NX_COMPAT"),
    ] {
        if dll & flag == 0 {
            problems.push(Problem::MissingDllCharacteristic(name));
        }
    }
    for section in file.section_table().iter() {
        let flags = section.characteristics.get(LE);
        if flags & pe::IMAGE_SCN_MEM_WRITE != 0 && flags & pe::IMAGE_SCN_MEM_EXECUTE != 0 {
            let name = String::from_utf8_lossy(section.raw_name()).into_owned();
            problems.push(Problem::WritableCode(name));
        }
    }
    if file
        .data_directory(pe::IMAGE_DIRECTORY_ENTRY_TLS)
        .is_some_and(|dir| dir.size.get(LE) != 0)
    {
        problems.push(Problem::ThreadLocalStorage);
    }
}

fn check_entry(file: &PeFile64<'_>, entry: u32, problems: &mut Vec<Problem>) {
    let exports = match file.export_table() {
        Ok(Some(table)) => match table.exports() {
            Ok(exports) => exports,
            Err(e) => return problems.push(Problem::Unreadable(e.to_string())),
        },
        Ok(None) => Vec::new(),
        Err(e) => return problems.push(Problem::Unreadable(e.to_string())),
    };
    let driver_entry = exports.iter().find_map(|export| match export.target {
        ExportTarget::Address(rva) if export.name == Some(DRIVER_ENTRY.as_bytes()) => Some(rva),
        _ => None,
    });
    match driver_entry {
        None => problems.push(Problem::NoDriverEntry),
        Some(driver_entry) if driver_entry != entry => {
            problems.push(Problem::EntryPointIsNotDriverEntry {
                entry,
                driver_entry,
            })
        }
        Some(_) => {}
    }
}

/// Checks every import and returns them all as `module!name`.
fn check_imports(
    file: &PeFile64<'_>,
    allowed: &AllowedImports,
    problems: &mut Vec<Problem>,
) -> Vec<String> {
    let mut imports = Vec::new();
    if let Err(e) = walk_imports(file, |module, import| match import {
        Import::Name(_hint, name) => {
            let name = String::from_utf8_lossy(name).into_owned();
            if !is_kernel_module(module) {
                problems.push(Problem::UserModeImport {
                    module: module.to_string(),
                    name: name.clone(),
                });
            } else if !allowed.allows(module, &name) {
                problems.push(Problem::ImportNotAllowed {
                    module: module.to_string(),
                    name: name.clone(),
                });
            }
            imports.push(format!("{module}!{name}"));
        }
        Import::Ordinal(ordinal) => problems.push(Problem::ImportByOrdinal {
            module: module.to_string(),
            ordinal,
        }),
    }) {
        problems.push(Problem::Unreadable(format!("import table: {e}")));
    }
    imports
}

fn walk_imports(
    file: &PeFile64<'_>,
    mut visit: impl FnMut(&str, Import<'_>),
) -> object::read::Result<()> {
    let Some(table) = file.import_table()? else {
        return Ok(());
    };
    let mut descriptors = table.descriptors()?;
    while let Some(descriptor) = descriptors.next()? {
        let module = String::from_utf8_lossy(table.name(descriptor.name.get(LE))?).into_owned();
        // The lookup table names the imports; without one the address table does (before binding).
        let lookup = match descriptor.original_first_thunk.get(LE) {
            0 => descriptor.first_thunk.get(LE),
            address => address,
        };
        let mut thunks = table.thunks(lookup)?;
        while let Some(thunk) = thunks.next::<pe::ImageNtHeaders64>()? {
            visit(&module, table.import::<pe::ImageNtHeaders64>(thunk)?);
        }
    }
    Ok(())
}
