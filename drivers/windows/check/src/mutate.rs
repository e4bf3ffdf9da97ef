//! Broken copies of a real image, for showing that the checks reject what the linker actually
//! produces when it goes wrong, not only synthetic images: `cargo xtask windows` checks each
//! packaged image, then each of these copies of it, which must fail.

use object::pe;

/// A copy whose first import module `ntoskrnl.exe` is renamed `kernel32.dll` (the same length,
/// so nothing else moves): the image now imports its kernel functions from a user-mode DLL.
pub fn import_from_kernel32(image: &[u8]) -> Option<Vec<u8>> {
    const FROM: &[u8] = b"ntoskrnl.exe\0";
    const TO: &[u8] = b"kernel32.dll\0";
    let at = image
        .windows(FROM.len())
        .position(|window| window.eq_ignore_ascii_case(FROM))?;
    let mut copy = image.to_vec();
    copy[at..at + TO.len()].copy_from_slice(TO);
    Some(copy)
}

/// A copy whose subsystem is the Windows console subsystem (a user-mode program).
pub fn console_subsystem(image: &[u8]) -> Option<Vec<u8>> {
    // e_lfanew at 0x3c; then "PE\0\0" (4), IMAGE_FILE_HEADER (20), and Subsystem at offset 68 of
    // the optional header.
    let nt = u32::from_le_bytes(image.get(0x3c..0x40)?.try_into().ok()?) as usize;
    let at = nt + 4 + 20 + 68;
    let mut copy = image.to_vec();
    copy.get_mut(at..at + 2)?
        .copy_from_slice(&pe::IMAGE_SUBSYSTEM_WINDOWS_CUI.to_le_bytes());
    Some(copy)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::synthetic::{build, Spec};
    use crate::{check_image, AllowedImports, Problem};

    fn allowed() -> AllowedImports {
        AllowedImports::parse("ntoskrnl.exe!IoCreateDevice\nntoskrnl.exe!DbgPrintEx").unwrap()
    }

    #[test]
    fn each_mutant_of_a_good_image_fails_for_its_reason() {
        let good = build(&Spec::driver());
        assert!(check_image(&good, &allowed()).is_ok());

        let problems = check_image(&import_from_kernel32(&good).unwrap(), &allowed()).unwrap_err();
        assert_eq!(
            problems[0],
            Problem::UserModeImport {
                module: "kernel32.dll".into(),
                name: "IoCreateDevice".into()
            }
        );
        let problems = check_image(&console_subsystem(&good).unwrap(), &allowed()).unwrap_err();
        assert_eq!(
            problems,
            [Problem::NotNative(pe::IMAGE_SUBSYSTEM_WINDOWS_CUI)]
        );
    }

    #[test]
    fn an_image_without_the_kernel_module_name_has_no_such_mutant() {
        assert_eq!(import_from_kernel32(b"MZ no imports here"), None);
        assert_eq!(console_subsystem(b"MZ"), None);
    }
}
