//! The macro that turns the conformance table into Rust values and C statements at once, so that
//! the two sides of every comparison come from the same line of the table.

/// The C member a field is compared with: its own name unless the table says otherwise.
macro_rules! c_member {
    ($f:ident) => {
        stringify!($f)
    };
    ($f:ident $c:literal) => {
        $c
    };
}
pub(crate) use c_member;

/// The C expression a constant is compared with: its own spelling unless the table says otherwise.
/// (A separate macro because a parsed `expr` can no longer be matched as an `ident`.)
macro_rules! c_expr {
    ([] $c:expr) => {
        stringify!($c)
    };
    ([$cc:literal] $c:expr) => {
        $cc
    };
}
pub(crate) use c_expr;

/// Probes for one field: offset and size. `_` marks padding that C leaves implicit; it has no C
/// member, and its place is implied by the struct size and the named fields around it.
macro_rules! field_probes {
    ($t:ident, $key:expr, $zeroed:expr, $cty:expr, $f:ident, [_], []) => {};
    ($t:ident, $key:expr, $zeroed:expr, $cty:expr, $f:ident, [$($cf:literal)?], [$($csize:literal)?]) => {{
        let member = $crate::table_macro::c_member!($f $($cf)?);
        let key = format!("{}.{}", $key, stringify!($f));
        $t.int(
            format!("{key}@offset"),
            core::mem::offset_of!(Self_, $f) as i128,
            &format!("offsetof({}, {member})", $cty),
        );
        #[allow(unused_mut, unused_assignments)]
        let mut c_size = format!("sizeof((({} *)0)->{member})", $cty);
        $( c_size = $csize.to_string(); )?
        $t.int(format!("{key}@size"), core::mem::size_of_val(&$zeroed.$f) as i128, &c_size);
    }};
}
pub(crate) use field_probes;

/// The whole table: see table.rs for the syntax of each section.
macro_rules! conformance_table {
    (
        structs {
            $( $sm:ident :: $ty:ident => $cty:literal $( [size $ctysize:literal] )? {
                $( $f:ident $( => $cf:tt )? $( [size $cfsize:literal] )? ),* $(,)?
            } )*
        }
        consts {
            $( $cm:ident { $( $c:expr $( => $cc:literal )? ),* $(,)? } )*
        }
        strings {
            $( $strm:ident { $( $s:ident $( => $sc:literal )? ),* $(,)? } )*
        }
        rings {
            $( $rm:ident :: $req:ident, $rsp:ident => $cring:literal ),* $(,)?
        }
        errno_tables {
            $( $em:ident :: $e:ident => $ce:literal ),* $(,)?
        }
        string_lists {
            $( $lm:ident :: $l:ident => $cl:literal ),* $(,)?
        }
    ) => {
        /// Builds every Rust value and the C statements printing the same keys.
        pub fn build() -> $crate::probe::Table {
            let mut t = $crate::probe::Table::default();
            $( {
                use $crate::abi::$sm::*;
                type Self_ = $ty;
                let key = concat!(stringify!($sm), "::", stringify!($ty));
                // Every Rust field must be listed: this pattern has no `..`.
                let _all_fields_listed = |v: &Self_| {
                    let $ty { $( $f: _ ),* } = v;
                };
                #[allow(unused_mut, unused_assignments)]
                let mut c_size = format!("sizeof({})", $cty);
                $( c_size = $ctysize.to_string(); )?
                t.int(format!("{key}@size"), core::mem::size_of::<Self_>() as i128, &c_size);
                t.int(
                    format!("{key}@align"),
                    core::mem::align_of::<Self_>() as i128,
                    &format!("_Alignof({})", $cty),
                );
                #[allow(unused_variables)]
                let zeroed = <Self_ as zerocopy::FromZeros>::new_zeroed();
                $( $crate::table_macro::field_probes!(
                    t, key, zeroed, $cty, $f, [$($cf)?], [$($cfsize)?]
                ); )*
            } )*
            $( {
                #[allow(unused_imports)]
                use $crate::abi::$cm::*;
                $(
                    t.int(
                        concat!(stringify!($cm), "::", stringify!($c)).to_string(),
                        ($c) as i128,
                        $crate::table_macro::c_expr!([$($cc)?] $c),
                    );
                )*
            } )*
            $( {
                use $crate::abi::$strm::*;
                $(
                    t.string(
                        concat!(stringify!($strm), "::", stringify!($s)).to_string(),
                        $s,
                        $crate::table_macro::c_member!($s $($sc)?),
                    );
                )*
            } )*
            $( {
                use $crate::abi::$rm::*;
                use $crate::abi::ring::*;
                let name = $cring;
                let entry = sring_entry_size(core::mem::size_of::<$req>(), core::mem::size_of::<$rsp>());
                t.int(
                    format!("ring::sring_entry_size({name})"),
                    entry as i128,
                    &format!("sizeof(union {name}_sring_entry)"),
                );
                t.int(
                    format!("ring::SRING_HEADER_SIZE({name})"),
                    SRING_HEADER_SIZE as i128,
                    &format!("offsetof(struct {name}_sring, ring)"),
                );
                for order in 0..=4u32 {
                    t.int(
                        format!("ring::sring_entries({name}, order {order})"),
                        i128::from(sring_entries(ring_bytes(order), entry)),
                        &format!("__CONST_RING_SIZE({name}, (1UL << XEN_PAGE_SHIFT) << {order})"),
                    );
                }
            } )*
            $(
                t.errno_table(
                    concat!(stringify!($em), "::", stringify!($e)),
                    $crate::abi::$em::$e,
                    $ce,
                );
            )*
            $(
                t.str_list(
                    concat!(stringify!($lm), "::", stringify!($l)),
                    $crate::abi::$lm::$l,
                    $cl,
                );
            )*
            t
        }
    };
}
pub(crate) use conformance_table;
