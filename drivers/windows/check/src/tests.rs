//! Every check, shown to pass on a good synthetic image and to fail on one that breaks it.

use object::pe;

use crate::synthetic::{build, Spec, Thunk};
use crate::{check_image, AllowedImports, Problem};

fn allowed() -> AllowedImports {
    AllowedImports::parse(
        "ntoskrnl.exe!IoCreateDevice\nntoskrnl.exe!DbgPrintEx\nntoskrnl.exe!memcpy\nhal.dll!KeStallExecutionProcessor",
    )
    .unwrap()
}

/// The problems the checker finds in an image built from `spec`.
fn problems(spec: &Spec) -> Vec<Problem> {
    match check_image(&build(spec), &allowed()) {
        Ok(summary) => panic!("expected problems, the image passed: {summary:?}"),
        Err(problems) => problems,
    }
}

#[test]
fn a_good_image_passes_and_its_imports_are_listed() {
    let mut spec = Spec::driver();
    spec.entry_offset = 4;
    spec.driver_entry_offset = Some(4);
    spec.imports
        .push(("HAL.DLL", vec![Thunk::Name("KeStallExecutionProcessor")]));
    let summary = check_image(&build(&spec), &allowed()).unwrap_or_else(|p| panic!("{p:?}"));
    assert_eq!(
        summary.imports,
        [
            "ntoskrnl.exe!IoCreateDevice",
            "ntoskrnl.exe!DbgPrintEx",
            "HAL.DLL!KeStallExecutionProcessor"
        ]
    );
    assert_eq!(summary.entry, 0x1004);
}

#[test]
fn garbage_and_non_pe_files_are_unreadable() {
    assert!(matches!(
        check_image(b"MZ not really", &allowed()).unwrap_err()[..],
        [Problem::Unreadable(_)]
    ));
    let elf = std::fs::read(std::env::current_exe().unwrap()).unwrap();
    assert!(matches!(
        check_image(&elf, &allowed()).unwrap_err()[..],
        [Problem::NotPe32Plus(_)]
    ));
}

#[test]
fn a_32_bit_image_is_refused() {
    let mut spec = Spec::driver();
    spec.is_64 = false;
    spec.machine = pe::IMAGE_FILE_MACHINE_I386;
    spec.imports.clear();
    assert!(matches!(problems(&spec)[..], [Problem::NotPe32Plus(_)]));
}

#[test]
fn another_machine_is_refused() {
    let mut spec = Spec::driver();
    spec.machine = pe::IMAGE_FILE_MACHINE_ARM64;
    assert_eq!(
        problems(&spec),
        [Problem::WrongMachine(pe::IMAGE_FILE_MACHINE_ARM64)]
    );
}

#[test]
fn a_user_mode_subsystem_is_refused() {
    let mut spec = Spec::driver();
    spec.subsystem = pe::IMAGE_SUBSYSTEM_WINDOWS_CUI;
    assert_eq!(
        problems(&spec),
        [Problem::NotNative(pe::IMAGE_SUBSYSTEM_WINDOWS_CUI)]
    );
}

#[test]
fn file_characteristics_must_say_executable_and_relocatable() {
    let mut spec = Spec::driver();
    spec.characteristics = pe::IMAGE_FILE_LARGE_ADDRESS_AWARE | pe::IMAGE_FILE_RELOCS_STRIPPED;
    assert_eq!(
        problems(&spec),
        [Problem::NotExecutable, Problem::RelocationsStripped]
    );
}

#[test]
fn dynamic_base_and_nx_compat_are_required() {
    let mut spec = Spec::driver();
    spec.dll_characteristics = pe::IMAGE_DLLCHARACTERISTICS_HIGH_ENTROPY_VA;
    assert_eq!(
        problems(&spec),
        [
            Problem::MissingDllCharacteristic("DYNAMIC_BASE"),
            Problem::MissingDllCharacteristic("NX_COMPAT")
        ]
    );
}

#[test]
fn writable_code_and_tls_are_refused() {
    let mut spec = Spec::driver();
    spec.writable_text = true;
    spec.tls = true;
    assert_eq!(
        problems(&spec),
        [
            Problem::WritableCode(".text".into()),
            Problem::ThreadLocalStorage
        ]
    );
}

#[test]
fn the_entry_point_must_be_the_exported_driver_entry() {
    let mut spec = Spec::driver();
    spec.driver_entry_offset = None;
    assert_eq!(problems(&spec), [Problem::NoDriverEntry]);

    let mut spec = Spec::driver();
    spec.entry_offset = 8;
    spec.driver_entry_offset = Some(0);
    assert_eq!(
        problems(&spec),
        [Problem::EntryPointIsNotDriverEntry {
            entry: 0x1008,
            driver_entry: 0x1000
        }]
    );
}

#[test]
fn imports_from_user_mode_dlls_are_refused_even_crt_names() {
    let mut spec = Spec::driver();
    spec.imports
        .push(("KERNEL32.dll", vec![Thunk::Name("CreateFileW")]));
    spec.imports
        .push(("VCRUNTIME140.dll", vec![Thunk::Name("memcpy")]));
    assert_eq!(
        problems(&spec),
        [
            Problem::UserModeImport {
                module: "KERNEL32.dll".into(),
                name: "CreateFileW".into()
            },
            Problem::UserModeImport {
                module: "VCRUNTIME140.dll".into(),
                name: "memcpy".into()
            }
        ]
    );
}

#[test]
fn kernel_imports_off_the_list_and_by_ordinal_are_refused() {
    let mut spec = Spec::driver();
    spec.imports[0].1.push(Thunk::Name("ZwTerminateProcess"));
    spec.imports.push(("ndis.sys", vec![Thunk::Ordinal(7)]));
    assert_eq!(
        problems(&spec),
        [
            Problem::ImportNotAllowed {
                module: "ntoskrnl.exe".into(),
                name: "ZwTerminateProcess".into()
            },
            Problem::ImportByOrdinal {
                module: "ndis.sys".into(),
                ordinal: 7
            }
        ]
    );
}

#[test]
fn an_image_without_imports_is_fine() {
    let mut spec = Spec::driver();
    spec.imports.clear();
    let summary = check_image(&build(&spec), &allowed()).unwrap();
    assert!(summary.imports.is_empty());
}
