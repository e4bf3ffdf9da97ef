//! Synthetic PE images for the checker's own tests: a minimal image with a `.text` section, an
//! export table and an import table laid out as a linker lays them out, every property the checker
//! looks at settable, so each check is shown to fail on an image that breaks it.

use object::pe;
use object::write::pe::{NtHeaders, Writer};

/// One import thunk.
#[derive(Debug, Clone)]
pub enum Thunk {
    Name(&'static str),
    Ordinal(u16),
}

/// What to put in the image.
#[derive(Debug, Clone)]
pub struct Spec {
    pub is_64: bool,
    pub machine: u16,
    pub characteristics: u16,
    pub subsystem: u16,
    pub dll_characteristics: u16,
    pub writable_text: bool,
    pub tls: bool,
    /// Offset of AddressOfEntryPoint inside `.text`.
    pub entry_offset: u32,
    /// Offset of the exported DriverEntry inside `.text`, or no export at all.
    pub driver_entry_offset: Option<u32>,
    pub imports: Vec<(&'static str, Vec<Thunk>)>,
}

impl Spec {
    /// An image with everything a driver should have, importing two allowed kernel functions.
    pub fn driver() -> Self {
        Spec {
            is_64: true,
            machine: pe::IMAGE_FILE_MACHINE_AMD64,
            characteristics: pe::IMAGE_FILE_EXECUTABLE_IMAGE
                | pe::IMAGE_FILE_LARGE_ADDRESS_AWARE
                | pe::IMAGE_FILE_DLL,
            subsystem: pe::IMAGE_SUBSYSTEM_NATIVE,
            dll_characteristics: pe::IMAGE_DLLCHARACTERISTICS_HIGH_ENTROPY_VA
                | pe::IMAGE_DLLCHARACTERISTICS_DYNAMIC_BASE
                | pe::IMAGE_DLLCHARACTERISTICS_NX_COMPAT,
            writable_text: false,
            tls: false,
            entry_offset: 0,
            driver_entry_offset: Some(0),
            imports: vec![(
                "ntoskrnl.exe",
                vec![Thunk::Name("IoCreateDevice"), Thunk::Name("DbgPrintEx")],
            )],
        }
    }
}

const TEXT_SIZE: u32 = 16;

/// Builds the image.
pub fn build(spec: &Spec) -> Vec<u8> {
    let mut buffer = Vec::new();
    let mut writer = Writer::new(spec.is_64, 0x1000, 0x200, &mut buffer);
    writer.reserve_dos_header_and_stub();
    writer.reserve_nt_headers(pe::IMAGE_NUMBEROF_DIRECTORY_ENTRIES);
    let has_exports = spec.driver_entry_offset.is_some();
    let has_imports = !spec.imports.is_empty();
    writer.reserve_section_headers(1 + u16::from(has_exports) + u16::from(has_imports));

    let mut text_flags =
        pe::IMAGE_SCN_CNT_CODE | pe::IMAGE_SCN_MEM_EXECUTE | pe::IMAGE_SCN_MEM_READ;
    if spec.writable_text {
        text_flags |= pe::IMAGE_SCN_MEM_WRITE;
    }
    let text = writer.reserve_section(*b".text\0\0\0", text_flags, TEXT_SIZE, TEXT_SIZE);

    let edata = spec.driver_entry_offset.map(|offset| {
        let size = export_table(0, 0).len() as u32;
        let range = writer.reserve_edata_section(size);
        let target = text.virtual_address + offset;
        (range, export_table(range.virtual_address, target))
    });
    let idata = has_imports.then(|| {
        let size = import_table(&spec.imports, 0).len() as u32;
        let range = writer.reserve_idata_section(size);
        (range, import_table(&spec.imports, range.virtual_address))
    });
    if spec.tls {
        // Presence is what the checker looks at; point it at the text section.
        writer.set_data_directory(pe::IMAGE_DIRECTORY_ENTRY_TLS, text.virtual_address, 40);
    }

    writer.write_dos_header_and_stub().expect("DOS header");
    writer.write_nt_headers(NtHeaders {
        machine: spec.machine,
        time_date_stamp: 0,
        characteristics: spec.characteristics,
        major_linker_version: 14,
        minor_linker_version: 0,
        address_of_entry_point: text.virtual_address + spec.entry_offset,
        image_base: 0x1_4000_0000,
        major_operating_system_version: 10,
        minor_operating_system_version: 0,
        major_image_version: 0,
        minor_image_version: 0,
        major_subsystem_version: 10,
        minor_subsystem_version: 0,
        subsystem: spec.subsystem,
        dll_characteristics: spec.dll_characteristics,
        size_of_stack_reserve: 0x40000,
        size_of_stack_commit: 0x1000,
        size_of_heap_reserve: 0,
        size_of_heap_commit: 0,
    });
    writer.write_section_headers();
    // `ret`, then `int3` padding.
    let mut code = vec![0xcc; TEXT_SIZE as usize];
    code[0] = 0xc3;
    writer.write_section(text.file_offset, &code);
    if let Some((range, bytes)) = &edata {
        writer.write_section(range.file_offset, bytes);
    }
    if let Some((range, bytes)) = &idata {
        writer.write_section(range.file_offset, bytes);
    }
    buffer
}

fn push_u16(out: &mut Vec<u8>, value: u16) {
    out.extend_from_slice(&value.to_le_bytes());
}
fn push_u32(out: &mut Vec<u8>, value: u32) {
    out.extend_from_slice(&value.to_le_bytes());
}

/// An export directory naming one function, DriverEntry at `target`, laid out at `base`.
fn export_table(base: u32, target: u32) -> Vec<u8> {
    const DIRECTORY: u32 = 40;
    let functions = base + DIRECTORY;
    let names = functions + 4;
    let ordinals = names + 4;
    let module_name = ordinals + 2;
    let entry_name = module_name + b"synthetic.sys\0".len() as u32;
    let mut out = Vec::new();
    push_u32(&mut out, 0); // Characteristics
    push_u32(&mut out, 0); // TimeDateStamp
    push_u16(&mut out, 0); // MajorVersion
    push_u16(&mut out, 0); // MinorVersion
    push_u32(&mut out, module_name);
    push_u32(&mut out, 1); // Base
    push_u32(&mut out, 1); // NumberOfFunctions
    push_u32(&mut out, 1); // NumberOfNames
    push_u32(&mut out, functions);
    push_u32(&mut out, names);
    push_u32(&mut out, ordinals);
    push_u32(&mut out, target);
    push_u32(&mut out, entry_name);
    push_u16(&mut out, 0);
    out.extend_from_slice(b"synthetic.sys\0");
    out.extend_from_slice(b"DriverEntry\0");
    out
}

/// Import descriptors, lookup and address tables, hint/name entries and module names, laid out
/// at `base` in that order (64-bit thunks).
fn import_table(imports: &[(&'static str, Vec<Thunk>)], base: u32) -> Vec<u8> {
    let descriptors_len = (imports.len() as u32 + 1) * 20;
    let thunks_len: u32 = imports
        .iter()
        .map(|(_, thunks)| (thunks.len() as u32 + 1) * 8)
        .sum();
    // Lookup tables, then address tables (identical before binding), then names.
    let lookup_base = base + descriptors_len;
    let address_base = lookup_base + thunks_len;
    let mut strings_at = address_base + thunks_len;
    let mut strings = Vec::new();
    let mut thunk_tables = Vec::new();
    let mut descriptors = Vec::new();
    let mut offset = 0;
    for (module, thunks) in imports {
        let mut table = Vec::new();
        for thunk in thunks {
            let value = match thunk {
                Thunk::Ordinal(ordinal) => pe::IMAGE_ORDINAL_FLAG64 | u64::from(*ordinal),
                Thunk::Name(name) => {
                    let at = strings_at;
                    push_u16(&mut strings, 0); // hint
                    strings.extend_from_slice(name.as_bytes());
                    strings.push(0);
                    if strings.len() % 2 == 1 {
                        strings.push(0);
                    }
                    strings_at = address_base + thunks_len + strings.len() as u32;
                    u64::from(at)
                }
            };
            table.extend_from_slice(&value.to_le_bytes());
        }
        table.extend_from_slice(&0u64.to_le_bytes());
        let name_at = strings_at;
        strings.extend_from_slice(module.as_bytes());
        strings.push(0);
        if strings.len() % 2 == 1 {
            strings.push(0);
        }
        strings_at = address_base + thunks_len + strings.len() as u32;
        push_u32(&mut descriptors, lookup_base + offset); // OriginalFirstThunk
        push_u32(&mut descriptors, 0); // TimeDateStamp
        push_u32(&mut descriptors, 0); // ForwarderChain
        push_u32(&mut descriptors, name_at);
        push_u32(&mut descriptors, address_base + offset); // FirstThunk
        offset += table.len() as u32;
        thunk_tables.extend_from_slice(&table);
    }
    descriptors.extend_from_slice(&[0; 20]);
    let mut out = descriptors;
    out.extend_from_slice(&thunk_tables);
    out.extend_from_slice(&thunk_tables);
    out.extend_from_slice(&strings);
    out
}
