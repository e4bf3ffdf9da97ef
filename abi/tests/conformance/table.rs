//! The conformance table: every struct, field, constant and list of xenpv-abi with the C spelling
//! it is measured against. One line here yields both the Rust value and the C statement.
//!
//! - `structs`: `module::Type => "C type" [size "C expr"]? { field [=> "C member" | => _] [size "C expr"]? }`.
//!   Each struct gets size and alignment probes and each field offset and size probes. `=> _` marks
//!   padding that the C struct leaves implicit. A C type may be a union member spelled with
//!   `__typeof__` where Rust gives that member a struct of its own.
//! - `consts`: `module { RUST_EXPR [=> "C expr"] }`; the C spelling defaults to the Rust one.
//! - `strings`: string constants, likewise.
//! - `rings`: `module::Request, Response => "DEFINE_RING_TYPES name"`: slot size, header size and
//!   `sring_entries` for ring orders 0..=4 against `__CONST_RING_SIZE`.
//! - `errno_tables` / `string_lists`: arrays compared row by row and in length.

use crate::table_macro::conformance_table;

conformance_table! {
    structs {
        ring::SringHeader => "struct netif_tx_sring"
            [size "offsetof(struct netif_tx_sring, ring)"] {
            req_prod, req_event, rsp_prod, rsp_event,
            pad => "pvt"
                [size "offsetof(struct netif_tx_sring, ring) - offsetof(struct netif_tx_sring, pvt)"],
        }

        netif::NetifTxRequest => "struct netif_tx_request" { gref, offset, flags, id, size }
        netif::NetifTxResponse => "struct netif_tx_response" { id, status }
        netif::NetifRxRequest => "struct netif_rx_request" { id, pad, gref }
        netif::NetifRxResponse => "struct netif_rx_response" { id, offset, flags, status }
        netif::NetifExtraInfo => "struct netif_extra_info" { kind => "type", flags, payload => "u" }
        netif::NetifExtraGso => "__typeof__(((struct netif_extra_info *)0)->u.gso)" {
            size, gso_type => "type", pad, features,
        }
        netif::NetifExtraMcast => "__typeof__(((struct netif_extra_info *)0)->u.mcast)" { addr }
        netif::NetifExtraHash => "__typeof__(((struct netif_extra_info *)0)->u.hash)" {
            hash_type => "type", algorithm, value,
        }
        netif::NetifCtrlRequest => "struct xen_netif_ctrl_request" { id, kind => "type", data }
        netif::NetifCtrlResponse => "struct xen_netif_ctrl_response" {
            id, kind => "type", status, data,
        }
        netif::NetifGref => "struct xen_netif_gref" { gref => "ref", flags, status }

        blkif::BlkifRequestSegment => "struct blkif_request_segment" {
            gref, first_sect, last_sect, pad => _,
        }
        blkif::BlkifRequest => "struct blkif_request" {
            operation, nr_segments, handle, pad => _, id, sector_number, seg,
        }
        blkif::BlkifRequestDiscard => "struct blkif_request_discard" {
            operation, flag, handle, pad => _, id, sector_number, nr_sectors,
        }
        blkif::BlkifRequestIndirect => "struct blkif_request_indirect" {
            operation, indirect_op, nr_segments, pad0 => _, id, sector_number, handle, pad1 => _,
            indirect_grefs, pad2 => _,
        }
        blkif::BlkifResponse => "struct blkif_response" {
            id, operation, pad0 => _, status, pad1 => _,
        }

        console::XenconsInterface => "struct xencons_interface" {
            input => "in", output => "out", in_cons, in_prod, out_cons, out_prod,
        }

        grant_table::GrantEntryV1 => "struct grant_entry_v1" { flags, domid, frame }
        grant_table::GnttabMapGrantRef => "struct gnttab_map_grant_ref" {
            host_addr, flags, gref => "ref", dom, status, handle, dev_bus_addr,
        }
        grant_table::GnttabUnmapGrantRef => "struct gnttab_unmap_grant_ref" {
            host_addr, dev_bus_addr, handle, status, pad => _,
        }
        grant_table::GnttabSetupTable => "struct gnttab_setup_table" {
            dom, pad0 => _, nr_frames, status, pad1 => _, frame_list,
        }
        grant_table::GnttabQuerySize => "struct gnttab_query_size" {
            dom, pad0 => _, nr_frames, max_nr_frames, status, pad1 => _,
        }
        grant_table::GnttabCopyPtr => "struct gnttab_copy_ptr" { u, domid, offset, pad => _ }
        grant_table::GnttabCopy => "struct gnttab_copy" { source, dest, len, flags, status, pad => _ }
        grant_table::GnttabSetVersion => "struct gnttab_set_version" { version }
        grant_table::GnttabGetVersion => "struct gnttab_get_version" { dom, pad, version }

        xs_wire::XsdSockmsg => "struct xsd_sockmsg" { msg_type => "type", req_id, tx_id, len }
        xs_wire::XenstoreDomainInterface => "struct xenstore_domain_interface" {
            req, rsp, req_cons, req_prod, rsp_cons, rsp_prod, server_features, connection, error,
        }

        event_channel::EvtchnAllocUnbound => "struct evtchn_alloc_unbound" { dom, remote_dom, port }
        event_channel::EvtchnBindInterdomain => "struct evtchn_bind_interdomain" {
            remote_dom, pad => _, remote_port, local_port,
        }
        event_channel::EvtchnBindVirq => "struct evtchn_bind_virq" { virq, vcpu, port }
        event_channel::EvtchnBindIpi => "struct evtchn_bind_ipi" { vcpu, port }
        event_channel::EvtchnClose => "struct evtchn_close" { port }
        event_channel::EvtchnSend => "struct evtchn_send" { port }
        event_channel::EvtchnStatus => "struct evtchn_status" {
            dom, pad => _, port, status, vcpu, u,
        }
        event_channel::EvtchnBindVcpu => "struct evtchn_bind_vcpu" { port, vcpu }
        event_channel::EvtchnUnmask => "struct evtchn_unmask" { port }
        event_channel::EvtchnReset => "struct evtchn_reset" { dom }
        event_channel::EvtchnInitControl => "struct evtchn_init_control" {
            control_gfn, offset, vcpu, link_bits, pad => "_pad",
        }
        event_channel::EvtchnExpandArray => "struct evtchn_expand_array" { array_gfn }
        event_channel::EvtchnSetPriority => "struct evtchn_set_priority" { port, priority }
        event_channel::EvtchnFifoControlBlock => "struct evtchn_fifo_control_block" {
            ready, rsvd => "_rsvd", head,
        }

        version::XenPlatformParameters => "struct xen_platform_parameters" { virt_start }
        version::XenFeatureInfo => "struct xen_feature_info" { submap_idx, submap }

        hvm::XenHvmParam => "struct xen_hvm_param" { domid, pad, index, value }
        hvm::XenHvmEvtchnUpcallVector => "struct xen_hvm_evtchn_upcall_vector" {
            vcpu, vector, pad => _,
        }
        hvm::XenHvmGetTime => "struct xen_hvm_get_time" { now }

        sched::SchedShutdown => "struct sched_shutdown" { reason }
        sched::SchedPoll => "struct sched_poll" { ports, nr_ports, pad => _, timeout }
        sched::SchedRemoteShutdown => "struct sched_remote_shutdown" { domain_id, pad => _, reason }
        sched::SchedWatchdog => "struct sched_watchdog" { id, timeout }

        memory::XenMemoryReservation => "struct xen_memory_reservation" {
            extent_start, nr_extents, extent_order, mem_flags, domid, pad => _,
        }
        memory::XenAddToPhysmap => "struct xen_add_to_physmap" { domid, size, space, idx, gpfn }
        memory::XenRemoveFromPhysmap => "struct xen_remove_from_physmap" { domid, pad => _, gpfn }

        vcpu::VcpuRunstateInfo => "struct vcpu_runstate_info" {
            state, pad => _, state_entry_time, time,
        }
        vcpu::VcpuRegisterRunstateMemoryArea => "struct vcpu_register_runstate_memory_area" { addr }
        vcpu::VcpuSetPeriodicTimer => "struct vcpu_set_periodic_timer" { period_ns }
        vcpu::VcpuSetSingleshotTimer => "struct vcpu_set_singleshot_timer" {
            timeout_abs_ns, flags, pad => _,
        }
        vcpu::VcpuRegisterVcpuInfo => "struct vcpu_register_vcpu_info" { mfn, offset, rsvd }
        vcpu::VcpuGetPhysid => "struct vcpu_get_physid" { phys_id }
        vcpu::VcpuRegisterTimeMemoryArea => "struct vcpu_register_time_memory_area" { addr }

        shared_info::VcpuTimeInfo => "struct vcpu_time_info" {
            version, pad0, tsc_timestamp, system_time, tsc_to_system_mul, tsc_shift, flags, pad1,
        }
        shared_info::ArchVcpuInfo => "struct arch_vcpu_info" { cr2, pad }
        shared_info::VcpuInfo => "struct vcpu_info" {
            evtchn_upcall_pending, evtchn_upcall_mask, pad => _, evtchn_pending_sel, arch, time,
        }
        shared_info::ArchSharedInfo => "struct arch_shared_info" {
            max_pfn, pfn_to_mfn_frame_list_list, nmi_reason, p2m_cr3, p2m_vaddr, p2m_generation,
        }
        shared_info::SharedInfo => "struct shared_info" {
            vcpu_info, evtchn_pending, evtchn_mask, wc_version, wc_sec, wc_nsec, wc_sec_hi, arch,
        }
        shared_info::StartInfoConsoleDomU => "__typeof__(((struct start_info *)0)->console.domU)" {
            mfn, evtchn, pad => _,
        }
        shared_info::StartInfo => "struct start_info" {
            magic, nr_pages, shared_info, flags, pad0 => _, store_mfn, store_evtchn, pad1 => _,
            console, pt_base, nr_pt_frames, mfn_list, mod_start, mod_len, cmd_line,
            first_p2m_pfn, nr_p2m_frames,
        }
    }

    consts {
        root {
            PAGE_SHIFT => "XEN_PAGE_SHIFT",
            PAGE_SIZE => "(1UL << XEN_PAGE_SHIFT)",
            core::mem::size_of::<DomId>() => "sizeof(domid_t)",
            core::mem::size_of::<GrantRef>() => "sizeof(grant_ref_t)",
            core::mem::size_of::<EvtchnPort>() => "sizeof(evtchn_port_t)",
            core::mem::size_of::<GrantHandle>() => "sizeof(grant_handle_t)",
            DOMID_FIRST_RESERVED, DOMID_SELF, DOMID_IO, DOMID_XEN, DOMID_COW, DOMID_INVALID,
            DOMID_IDLE, DOMID_MASK,
        }
        ring {
            core::mem::size_of::<RingIdx>() => "sizeof(RING_IDX)",
        }
        netif {
            XEN_NETIF_NR_SLOTS_MIN, XEN_NETIF_MAX_TX_SIZE,
            XEN_NETIF_CTRL_HASH_TYPE_IPV4_BIT => "_XEN_NETIF_CTRL_HASH_TYPE_IPV4",
            XEN_NETIF_CTRL_HASH_TYPE_IPV4,
            XEN_NETIF_CTRL_HASH_TYPE_IPV4_TCP_BIT => "_XEN_NETIF_CTRL_HASH_TYPE_IPV4_TCP",
            XEN_NETIF_CTRL_HASH_TYPE_IPV4_TCP,
            XEN_NETIF_CTRL_HASH_TYPE_IPV6_BIT => "_XEN_NETIF_CTRL_HASH_TYPE_IPV6",
            XEN_NETIF_CTRL_HASH_TYPE_IPV6,
            XEN_NETIF_CTRL_HASH_TYPE_IPV6_TCP_BIT => "_XEN_NETIF_CTRL_HASH_TYPE_IPV6_TCP",
            XEN_NETIF_CTRL_HASH_TYPE_IPV6_TCP,
            XEN_NETIF_CTRL_HASH_ALGORITHM_NONE, XEN_NETIF_CTRL_HASH_ALGORITHM_TOEPLITZ,
            XEN_NETIF_CTRL_TYPE_INVALID, XEN_NETIF_CTRL_TYPE_GET_HASH_FLAGS,
            XEN_NETIF_CTRL_TYPE_SET_HASH_FLAGS, XEN_NETIF_CTRL_TYPE_SET_HASH_KEY,
            XEN_NETIF_CTRL_TYPE_GET_HASH_MAPPING_SIZE, XEN_NETIF_CTRL_TYPE_SET_HASH_MAPPING_SIZE,
            XEN_NETIF_CTRL_TYPE_SET_HASH_MAPPING, XEN_NETIF_CTRL_TYPE_SET_HASH_ALGORITHM,
            XEN_NETIF_CTRL_TYPE_GET_GREF_MAPPING_SIZE, XEN_NETIF_CTRL_TYPE_ADD_GREF_MAPPING,
            XEN_NETIF_CTRL_TYPE_DEL_GREF_MAPPING,
            XEN_NETIF_CTRL_STATUS_SUCCESS, XEN_NETIF_CTRL_STATUS_NOT_SUPPORTED,
            XEN_NETIF_CTRL_STATUS_INVALID_PARAMETER, XEN_NETIF_CTRL_STATUS_BUFFER_OVERFLOW,
            XEN_NETIF_CTRLF_GREF_READONLY_BIT => "_XEN_NETIF_CTRLF_GREF_readonly",
            XEN_NETIF_CTRLF_GREF_READONLY => "XEN_NETIF_CTRLF_GREF_readonly",
            NETTXF_CSUM_BLANK_BIT => "_NETTXF_csum_blank",
            NETTXF_CSUM_BLANK => "NETTXF_csum_blank",
            NETTXF_DATA_VALIDATED_BIT => "_NETTXF_data_validated",
            NETTXF_DATA_VALIDATED => "NETTXF_data_validated",
            NETTXF_MORE_DATA_BIT => "_NETTXF_more_data",
            NETTXF_MORE_DATA => "NETTXF_more_data",
            NETTXF_EXTRA_INFO_BIT => "_NETTXF_extra_info",
            NETTXF_EXTRA_INFO => "NETTXF_extra_info",
            XEN_NETIF_EXTRA_TYPE_NONE, XEN_NETIF_EXTRA_TYPE_GSO, XEN_NETIF_EXTRA_TYPE_MCAST_ADD,
            XEN_NETIF_EXTRA_TYPE_MCAST_DEL, XEN_NETIF_EXTRA_TYPE_HASH, XEN_NETIF_EXTRA_TYPE_MAX,
            XEN_NETIF_EXTRA_FLAG_MORE_BIT => "_XEN_NETIF_EXTRA_FLAG_MORE",
            XEN_NETIF_EXTRA_FLAG_MORE,
            XEN_NETIF_GSO_TYPE_NONE, XEN_NETIF_GSO_TYPE_TCPV4, XEN_NETIF_GSO_TYPE_TCPV6,
            NETRXF_DATA_VALIDATED_BIT => "_NETRXF_data_validated",
            NETRXF_DATA_VALIDATED => "NETRXF_data_validated",
            NETRXF_CSUM_BLANK_BIT => "_NETRXF_csum_blank",
            NETRXF_CSUM_BLANK => "NETRXF_csum_blank",
            NETRXF_MORE_DATA_BIT => "_NETRXF_more_data",
            NETRXF_MORE_DATA => "NETRXF_more_data",
            NETRXF_EXTRA_INFO_BIT => "_NETRXF_extra_info",
            NETRXF_EXTRA_INFO => "NETRXF_extra_info",
            NETRXF_GSO_PREFIX_BIT => "_NETRXF_gso_prefix",
            NETRXF_GSO_PREFIX => "NETRXF_gso_prefix",
            NETIF_RSP_DROPPED, NETIF_RSP_ERROR, NETIF_RSP_OKAY, NETIF_RSP_NULL,
        }
        blkif {
            core::mem::size_of::<BlkifVdev>() => "sizeof(blkif_vdev_t)",
            core::mem::size_of::<BlkifSector>() => "sizeof(blkif_sector_t)",
            BLKIF_OP_READ, BLKIF_OP_WRITE, BLKIF_OP_WRITE_BARRIER, BLKIF_OP_FLUSH_DISKCACHE,
            BLKIF_OP_RESERVED_1, BLKIF_OP_DISCARD, BLKIF_OP_INDIRECT,
            BLKIF_MAX_SEGMENTS_PER_REQUEST, BLKIF_MAX_INDIRECT_PAGES_PER_REQUEST,
            BLKIF_SEGS_PER_INDIRECT_FRAME
                => "(1UL << XEN_PAGE_SHIFT) / sizeof(struct blkif_request_segment)",
            BLKIF_DISCARD_SECURE,
            BLKIF_RSP_EOPNOTSUPP, BLKIF_RSP_ERROR, BLKIF_RSP_OKAY,
            VDISK_CDROM, VDISK_REMOVABLE, VDISK_READONLY,
        }
        grant_table {
            GNTTAB_NR_RESERVED_ENTRIES, GNTTAB_RESERVED_CONSOLE, GNTTAB_RESERVED_XENSTORE,
            GTF_INVALID => "GTF_invalid",
            GTF_PERMIT_ACCESS => "GTF_permit_access",
            GTF_ACCEPT_TRANSFER => "GTF_accept_transfer",
            GTF_TRANSITIVE => "GTF_transitive",
            GTF_TYPE_MASK => "GTF_type_mask",
            GTF_READONLY_BIT => "_GTF_readonly",
            GTF_READONLY => "GTF_readonly",
            GTF_READING_BIT => "_GTF_reading",
            GTF_READING => "GTF_reading",
            GTF_WRITING_BIT => "_GTF_writing",
            GTF_WRITING => "GTF_writing",
            GTF_PWT_BIT => "_GTF_PWT",
            GTF_PWT,
            GTF_PCD_BIT => "_GTF_PCD",
            GTF_PCD,
            GTF_PAT_BIT => "_GTF_PAT",
            GTF_PAT,
            GTF_SUB_PAGE_BIT => "_GTF_sub_page",
            GTF_SUB_PAGE => "GTF_sub_page",
            GTF_TRANSFER_COMMITTED_BIT => "_GTF_transfer_committed",
            GTF_TRANSFER_COMMITTED => "GTF_transfer_committed",
            GTF_TRANSFER_COMPLETED_BIT => "_GTF_transfer_completed",
            GTF_TRANSFER_COMPLETED => "GTF_transfer_completed",
            GNTTABOP_MAP_GRANT_REF => "GNTTABOP_map_grant_ref",
            GNTTABOP_UNMAP_GRANT_REF => "GNTTABOP_unmap_grant_ref",
            GNTTABOP_SETUP_TABLE => "GNTTABOP_setup_table",
            GNTTABOP_DUMP_TABLE => "GNTTABOP_dump_table",
            GNTTABOP_TRANSFER => "GNTTABOP_transfer",
            GNTTABOP_COPY => "GNTTABOP_copy",
            GNTTABOP_QUERY_SIZE => "GNTTABOP_query_size",
            GNTTABOP_UNMAP_AND_REPLACE => "GNTTABOP_unmap_and_replace",
            GNTTABOP_SET_VERSION => "GNTTABOP_set_version",
            GNTTABOP_GET_STATUS_FRAMES => "GNTTABOP_get_status_frames",
            GNTTABOP_GET_VERSION => "GNTTABOP_get_version",
            GNTTABOP_SWAP_GRANT_REF => "GNTTABOP_swap_grant_ref",
            GNTTABOP_CACHE_FLUSH => "GNTTABOP_cache_flush",
            GNTCOPY_SOURCE_GREF_BIT => "_GNTCOPY_source_gref",
            GNTCOPY_SOURCE_GREF => "GNTCOPY_source_gref",
            GNTCOPY_DEST_GREF_BIT => "_GNTCOPY_dest_gref",
            GNTCOPY_DEST_GREF => "GNTCOPY_dest_gref",
            GNTMAP_DEVICE_MAP_BIT => "_GNTMAP_device_map",
            GNTMAP_DEVICE_MAP => "GNTMAP_device_map",
            GNTMAP_HOST_MAP_BIT => "_GNTMAP_host_map",
            GNTMAP_HOST_MAP => "GNTMAP_host_map",
            GNTMAP_READONLY_BIT => "_GNTMAP_readonly",
            GNTMAP_READONLY => "GNTMAP_readonly",
            GNTMAP_APPLICATION_MAP_BIT => "_GNTMAP_application_map",
            GNTMAP_APPLICATION_MAP => "GNTMAP_application_map",
            GNTMAP_CONTAINS_PTE_BIT => "_GNTMAP_contains_pte",
            GNTMAP_CONTAINS_PTE => "GNTMAP_contains_pte",
            GNTMAP_GUEST_AVAIL0_BIT => "_GNTMAP_guest_avail0",
            GNTMAP_GUEST_AVAIL_MASK => "GNTMAP_guest_avail_mask",
            GNTST_OKAY => "GNTST_okay",
            GNTST_GENERAL_ERROR => "GNTST_general_error",
            GNTST_BAD_DOMAIN => "GNTST_bad_domain",
            GNTST_BAD_GNTREF => "GNTST_bad_gntref",
            GNTST_BAD_HANDLE => "GNTST_bad_handle",
            GNTST_BAD_VIRT_ADDR => "GNTST_bad_virt_addr",
            GNTST_BAD_DEV_ADDR => "GNTST_bad_dev_addr",
            GNTST_NO_DEVICE_SPACE => "GNTST_no_device_space",
            GNTST_PERMISSION_DENIED => "GNTST_permission_denied",
            GNTST_BAD_PAGE => "GNTST_bad_page",
            GNTST_BAD_COPY_ARG => "GNTST_bad_copy_arg",
            GNTST_ADDRESS_TOO_BIG => "GNTST_address_too_big",
            GNTST_EAGAIN => "GNTST_eagain",
            GNTST_NO_SPACE => "GNTST_no_space",
        }
        console {
            XENCONS_IN_SIZE => "sizeof(((struct xencons_interface *)0)->in)",
            XENCONS_OUT_SIZE => "sizeof(((struct xencons_interface *)0)->out)",
            core::mem::size_of::<XenconsRingIdx>() => "sizeof(XENCONS_RING_IDX)",
        }
        xs_wire {
            XS_CONTROL, XS_DEBUG, XS_DIRECTORY, XS_READ, XS_GET_PERMS, XS_WATCH, XS_UNWATCH,
            XS_TRANSACTION_START, XS_TRANSACTION_END, XS_INTRODUCE, XS_RELEASE,
            XS_GET_DOMAIN_PATH, XS_WRITE, XS_MKDIR, XS_RM, XS_SET_PERMS, XS_WATCH_EVENT,
            XS_ERROR, XS_IS_DOMAIN_INTRODUCED, XS_RESUME, XS_SET_TARGET, XS_RESET_WATCHES,
            XS_DIRECTORY_PART, XS_TYPE_COUNT, XS_INVALID,
            XS_WATCH_PATH, XS_WATCH_TOKEN,
            XSD_ERRORS.len() => "sizeof(xsd_errors) / sizeof(xsd_errors[0])",
            XENSTORE_RING_SIZE,
            core::mem::size_of::<XenstoreRingIdx>() => "sizeof(XENSTORE_RING_IDX)",
            XENSTORE_PAYLOAD_MAX, XENSTORE_ABS_PATH_MAX, XENSTORE_REL_PATH_MAX,
            XENSTORE_SERVER_FEATURE_RECONNECTION, XENSTORE_SERVER_FEATURE_ERROR,
            XENSTORE_CONNECTED, XENSTORE_RECONNECT,
            XENSTORE_ERROR_NONE, XENSTORE_ERROR_COMM, XENSTORE_ERROR_RINGIDX, XENSTORE_ERROR_PROTO,
        }
        xenbus {
            core::mem::size_of::<XenbusState>() => "sizeof(XenbusState)",
            XenbusState::Unknown as u32 => "XenbusStateUnknown",
            XenbusState::Initialising as u32 => "XenbusStateInitialising",
            XenbusState::InitWait as u32 => "XenbusStateInitWait",
            XenbusState::Initialised as u32 => "XenbusStateInitialised",
            XenbusState::Connected as u32 => "XenbusStateConnected",
            XenbusState::Closing as u32 => "XenbusStateClosing",
            XenbusState::Closed as u32 => "XenbusStateClosed",
            XenbusState::Reconfiguring as u32 => "XenbusStateReconfiguring",
            XenbusState::Reconfigured as u32 => "XenbusStateReconfigured",
        }
        event_channel {
            EVTCHNOP_BIND_INTERDOMAIN => "EVTCHNOP_bind_interdomain",
            EVTCHNOP_BIND_VIRQ => "EVTCHNOP_bind_virq",
            EVTCHNOP_BIND_PIRQ => "EVTCHNOP_bind_pirq",
            EVTCHNOP_CLOSE => "EVTCHNOP_close",
            EVTCHNOP_SEND => "EVTCHNOP_send",
            EVTCHNOP_STATUS => "EVTCHNOP_status",
            EVTCHNOP_ALLOC_UNBOUND => "EVTCHNOP_alloc_unbound",
            EVTCHNOP_BIND_IPI => "EVTCHNOP_bind_ipi",
            EVTCHNOP_BIND_VCPU => "EVTCHNOP_bind_vcpu",
            EVTCHNOP_UNMASK => "EVTCHNOP_unmask",
            EVTCHNOP_RESET => "EVTCHNOP_reset",
            EVTCHNOP_INIT_CONTROL => "EVTCHNOP_init_control",
            EVTCHNOP_EXPAND_ARRAY => "EVTCHNOP_expand_array",
            EVTCHNOP_SET_PRIORITY => "EVTCHNOP_set_priority",
            EVTCHNSTAT_CLOSED => "EVTCHNSTAT_closed",
            EVTCHNSTAT_UNBOUND => "EVTCHNSTAT_unbound",
            EVTCHNSTAT_INTERDOMAIN => "EVTCHNSTAT_interdomain",
            EVTCHNSTAT_PIRQ => "EVTCHNSTAT_pirq",
            EVTCHNSTAT_VIRQ => "EVTCHNSTAT_virq",
            EVTCHNSTAT_IPI => "EVTCHNSTAT_ipi",
            EVTCHN_2L_NR_CHANNELS,
            EVTCHN_FIFO_PRIORITY_MAX, EVTCHN_FIFO_PRIORITY_DEFAULT, EVTCHN_FIFO_PRIORITY_MIN,
            EVTCHN_FIFO_MAX_QUEUES, EVTCHN_FIFO_PENDING, EVTCHN_FIFO_MASKED, EVTCHN_FIFO_LINKED,
            EVTCHN_FIFO_BUSY, EVTCHN_FIFO_LINK_BITS, EVTCHN_FIFO_LINK_MASK, EVTCHN_FIFO_NR_CHANNELS,
            VIRQ_TIMER, VIRQ_DEBUG, VIRQ_CONSOLE, VIRQ_DOM_EXC, VIRQ_TBUF, VIRQ_DEBUGGER,
            VIRQ_XENOPROF, VIRQ_CON_RING, VIRQ_PCPU_STATE, VIRQ_MEM_EVENT, VIRQ_ARGO, VIRQ_ENOMEM,
            VIRQ_XENPMU, NR_VIRQS,
        }
        hypercall {
            HYPERVISOR_SET_TRAP_TABLE => "__HYPERVISOR_set_trap_table",
            HYPERVISOR_MMU_UPDATE => "__HYPERVISOR_mmu_update",
            HYPERVISOR_SET_GDT => "__HYPERVISOR_set_gdt",
            HYPERVISOR_STACK_SWITCH => "__HYPERVISOR_stack_switch",
            HYPERVISOR_SET_CALLBACKS => "__HYPERVISOR_set_callbacks",
            HYPERVISOR_FPU_TASKSWITCH => "__HYPERVISOR_fpu_taskswitch",
            HYPERVISOR_SCHED_OP_COMPAT => "__HYPERVISOR_sched_op_compat",
            HYPERVISOR_PLATFORM_OP => "__HYPERVISOR_platform_op",
            HYPERVISOR_SET_DEBUGREG => "__HYPERVISOR_set_debugreg",
            HYPERVISOR_GET_DEBUGREG => "__HYPERVISOR_get_debugreg",
            HYPERVISOR_UPDATE_DESCRIPTOR => "__HYPERVISOR_update_descriptor",
            HYPERVISOR_MEMORY_OP => "__HYPERVISOR_memory_op",
            HYPERVISOR_MULTICALL => "__HYPERVISOR_multicall",
            HYPERVISOR_UPDATE_VA_MAPPING => "__HYPERVISOR_update_va_mapping",
            HYPERVISOR_SET_TIMER_OP => "__HYPERVISOR_set_timer_op",
            HYPERVISOR_EVENT_CHANNEL_OP_COMPAT => "__HYPERVISOR_event_channel_op_compat",
            HYPERVISOR_XEN_VERSION => "__HYPERVISOR_xen_version",
            HYPERVISOR_CONSOLE_IO => "__HYPERVISOR_console_io",
            HYPERVISOR_PHYSDEV_OP_COMPAT => "__HYPERVISOR_physdev_op_compat",
            HYPERVISOR_GRANT_TABLE_OP => "__HYPERVISOR_grant_table_op",
            HYPERVISOR_VM_ASSIST => "__HYPERVISOR_vm_assist",
            HYPERVISOR_UPDATE_VA_MAPPING_OTHERDOMAIN => "__HYPERVISOR_update_va_mapping_otherdomain",
            HYPERVISOR_IRET => "__HYPERVISOR_iret",
            HYPERVISOR_VCPU_OP => "__HYPERVISOR_vcpu_op",
            HYPERVISOR_SET_SEGMENT_BASE => "__HYPERVISOR_set_segment_base",
            HYPERVISOR_MMUEXT_OP => "__HYPERVISOR_mmuext_op",
            HYPERVISOR_XSM_OP => "__HYPERVISOR_xsm_op",
            HYPERVISOR_NMI_OP => "__HYPERVISOR_nmi_op",
            HYPERVISOR_SCHED_OP => "__HYPERVISOR_sched_op",
            HYPERVISOR_CALLBACK_OP => "__HYPERVISOR_callback_op",
            HYPERVISOR_XENOPROF_OP => "__HYPERVISOR_xenoprof_op",
            HYPERVISOR_EVENT_CHANNEL_OP => "__HYPERVISOR_event_channel_op",
            HYPERVISOR_PHYSDEV_OP => "__HYPERVISOR_physdev_op",
            HYPERVISOR_HVM_OP => "__HYPERVISOR_hvm_op",
            HYPERVISOR_SYSCTL => "__HYPERVISOR_sysctl",
            HYPERVISOR_DOMCTL => "__HYPERVISOR_domctl",
            HYPERVISOR_KEXEC_OP => "__HYPERVISOR_kexec_op",
            HYPERVISOR_TMEM_OP => "__HYPERVISOR_tmem_op",
            HYPERVISOR_ARGO_OP => "__HYPERVISOR_argo_op",
            HYPERVISOR_XENPMU_OP => "__HYPERVISOR_xenpmu_op",
            HYPERVISOR_DM_OP => "__HYPERVISOR_dm_op",
            HYPERVISOR_HYPFS_OP => "__HYPERVISOR_hypfs_op",
            HYPERVISOR_ARCH_0 => "__HYPERVISOR_arch_0",
            HYPERVISOR_ARCH_1 => "__HYPERVISOR_arch_1",
            HYPERVISOR_ARCH_2 => "__HYPERVISOR_arch_2",
            HYPERVISOR_ARCH_3 => "__HYPERVISOR_arch_3",
            HYPERVISOR_ARCH_4 => "__HYPERVISOR_arch_4",
            HYPERVISOR_ARCH_5 => "__HYPERVISOR_arch_5",
            HYPERVISOR_ARCH_6 => "__HYPERVISOR_arch_6",
            HYPERVISOR_ARCH_7 => "__HYPERVISOR_arch_7",
            CONSOLEIO_WRITE => "CONSOLEIO_write",
            CONSOLEIO_READ => "CONSOLEIO_read",
        }
        version {
            XENVER_VERSION => "XENVER_version",
            XENVER_EXTRAVERSION => "XENVER_extraversion",
            XENVER_COMPILE_INFO => "XENVER_compile_info",
            XENVER_CAPABILITIES => "XENVER_capabilities",
            XENVER_CHANGESET => "XENVER_changeset",
            XENVER_PLATFORM_PARAMETERS => "XENVER_platform_parameters",
            XENVER_GET_FEATURES => "XENVER_get_features",
            XENVER_PAGESIZE => "XENVER_pagesize",
            XENVER_GUEST_HANDLE => "XENVER_guest_handle",
            XENVER_COMMANDLINE => "XENVER_commandline",
            XENVER_BUILD_ID => "XENVER_build_id",
            XEN_EXTRAVERSION_LEN, XEN_CAPABILITIES_INFO_LEN, XEN_CHANGESET_INFO_LEN,
            XENFEAT_WRITABLE_PAGE_TABLES => "XENFEAT_writable_page_tables",
            XENFEAT_WRITABLE_DESCRIPTOR_TABLES => "XENFEAT_writable_descriptor_tables",
            XENFEAT_AUTO_TRANSLATED_PHYSMAP => "XENFEAT_auto_translated_physmap",
            XENFEAT_SUPERVISOR_MODE_KERNEL => "XENFEAT_supervisor_mode_kernel",
            XENFEAT_PAE_PGDIR_ABOVE_4GB => "XENFEAT_pae_pgdir_above_4gb",
            XENFEAT_MMU_PT_UPDATE_PRESERVE_AD => "XENFEAT_mmu_pt_update_preserve_ad",
            XENFEAT_HIGHMEM_ASSIST => "XENFEAT_highmem_assist",
            XENFEAT_GNTTAB_MAP_AVAIL_BITS => "XENFEAT_gnttab_map_avail_bits",
            XENFEAT_HVM_CALLBACK_VECTOR => "XENFEAT_hvm_callback_vector",
            XENFEAT_HVM_SAFE_PVCLOCK => "XENFEAT_hvm_safe_pvclock",
            XENFEAT_HVM_PIRQS => "XENFEAT_hvm_pirqs",
            XENFEAT_DOM0 => "XENFEAT_dom0",
            XENFEAT_MEMORY_OP_VNODE_SUPPORTED => "XENFEAT_memory_op_vnode_supported",
            XENFEAT_ARM_SMCCC_SUPPORTED => "XENFEAT_ARM_SMCCC_supported",
            XENFEAT_LINUX_RSDP_UNRESTRICTED => "XENFEAT_linux_rsdp_unrestricted",
            XENFEAT_NOT_DIRECT_MAPPED => "XENFEAT_not_direct_mapped",
            XENFEAT_DIRECT_MAPPED => "XENFEAT_direct_mapped",
            XENFEAT_NR_SUBMAPS,
        }
        hvm {
            HVMOP_SET_PARAM => "HVMOP_set_param",
            HVMOP_GET_PARAM => "HVMOP_get_param",
            HVMOP_FLUSH_TLBS => "HVMOP_flush_tlbs",
            HVMOP_PAGETABLE_DYING => "HVMOP_pagetable_dying",
            HVMOP_GET_TIME => "HVMOP_get_time",
            HVMOP_XENTRACE => "HVMOP_xentrace",
            HVMOP_GET_MEM_TYPE => "HVMOP_get_mem_type",
            HVMOP_SET_EVTCHN_UPCALL_VECTOR => "HVMOP_set_evtchn_upcall_vector",
            HVMOP_GUEST_REQUEST_VM_EVENT => "HVMOP_guest_request_vm_event",
            HVMOP_ALTP2M => "HVMOP_altp2m",
            HVM_PARAM_CALLBACK_IRQ, HVM_PARAM_CALLBACK_IRQ_TYPE_MASK,
            HVM_PARAM_CALLBACK_TYPE_GSI, HVM_PARAM_CALLBACK_TYPE_PCI_INTX,
            HVM_PARAM_CALLBACK_TYPE_VECTOR,
            HVM_PARAM_STORE_PFN, HVM_PARAM_STORE_EVTCHN, HVM_PARAM_IOREQ_PFN,
            HVM_PARAM_BUFIOREQ_PFN, HVM_PARAM_VIRIDIAN, HVM_PARAM_TIMER_MODE,
            HVM_PARAM_HPET_ENABLED, HVM_PARAM_IDENT_PT, HVM_PARAM_ACPI_S_STATE,
            HVM_PARAM_VM86_TSS, HVM_PARAM_VPT_ALIGN, HVM_PARAM_CONSOLE_PFN,
            HVM_PARAM_CONSOLE_EVTCHN, HVM_PARAM_ACPI_IOPORTS_LOCATION, HVM_PARAM_PAGING_RING_PFN,
            HVM_PARAM_MONITOR_RING_PFN, HVM_PARAM_SHARING_RING_PFN,
            HVM_PARAM_TRIPLE_FAULT_REASON, HVM_PARAM_IOREQ_SERVER_PFN,
            HVM_PARAM_NR_IOREQ_SERVER_PAGES, HVM_PARAM_VM_GENERATION_ID_ADDR, HVM_PARAM_ALTP2M,
            HVM_PARAM_X87_FIP_WIDTH, HVM_PARAM_VM86_TSS_SIZED, HVM_PARAM_MCA_CAP, HVM_NR_PARAMS,
        }
        sched {
            SCHEDOP_YIELD => "SCHEDOP_yield",
            SCHEDOP_BLOCK => "SCHEDOP_block",
            SCHEDOP_SHUTDOWN => "SCHEDOP_shutdown",
            SCHEDOP_POLL => "SCHEDOP_poll",
            SCHEDOP_REMOTE_SHUTDOWN => "SCHEDOP_remote_shutdown",
            SCHEDOP_SHUTDOWN_CODE => "SCHEDOP_shutdown_code",
            SCHEDOP_WATCHDOG => "SCHEDOP_watchdog",
            SCHEDOP_PIN_OVERRIDE => "SCHEDOP_pin_override",
            SHUTDOWN_POWEROFF => "SHUTDOWN_poweroff",
            SHUTDOWN_REBOOT => "SHUTDOWN_reboot",
            SHUTDOWN_SUSPEND => "SHUTDOWN_suspend",
            SHUTDOWN_CRASH => "SHUTDOWN_crash",
            SHUTDOWN_WATCHDOG => "SHUTDOWN_watchdog",
            SHUTDOWN_SOFT_RESET => "SHUTDOWN_soft_reset",
            SHUTDOWN_MAX,
        }
        memory {
            XENMEM_INCREASE_RESERVATION => "XENMEM_increase_reservation",
            XENMEM_DECREASE_RESERVATION => "XENMEM_decrease_reservation",
            XENMEM_MAXIMUM_RAM_PAGE => "XENMEM_maximum_ram_page",
            XENMEM_CURRENT_RESERVATION => "XENMEM_current_reservation",
            XENMEM_MAXIMUM_RESERVATION => "XENMEM_maximum_reservation",
            XENMEM_MACHPHYS_MFN_LIST => "XENMEM_machphys_mfn_list",
            XENMEM_POPULATE_PHYSMAP => "XENMEM_populate_physmap",
            XENMEM_ADD_TO_PHYSMAP => "XENMEM_add_to_physmap",
            XENMEM_MEMORY_MAP => "XENMEM_memory_map",
            XENMEM_MACHINE_MEMORY_MAP => "XENMEM_machine_memory_map",
            XENMEM_EXCHANGE => "XENMEM_exchange",
            XENMEM_MACHPHYS_MAPPING => "XENMEM_machphys_mapping",
            XENMEM_SET_MEMORY_MAP => "XENMEM_set_memory_map",
            XENMEM_MAXIMUM_GPFN => "XENMEM_maximum_gpfn",
            XENMEM_REMOVE_FROM_PHYSMAP => "XENMEM_remove_from_physmap",
            XENMEM_SET_POD_TARGET => "XENMEM_set_pod_target",
            XENMEM_GET_POD_TARGET => "XENMEM_get_pod_target",
            XENMEM_ADD_TO_PHYSMAP_BATCH => "XENMEM_add_to_physmap_batch",
            XENMEM_MACHPHYS_COMPAT_MFN_LIST => "XENMEM_machphys_compat_mfn_list",
            XENMEM_GET_VNUMAINFO => "XENMEM_get_vnumainfo",
            XENMEM_ACQUIRE_RESOURCE => "XENMEM_acquire_resource",
            XENMEMF_POPULATE_ON_DEMAND => "XENMEMF_populate_on_demand",
            XENMEMF_EXACT_NODE_REQUEST => "XENMEMF_exact_node_request",
            XENMEMF_VNODE => "XENMEMF_vnode",
            XENMAPSPACE_SHARED_INFO => "XENMAPSPACE_shared_info",
            XENMAPSPACE_GRANT_TABLE => "XENMAPSPACE_grant_table",
            XENMAPSPACE_GMFN => "XENMAPSPACE_gmfn",
            XENMAPSPACE_GMFN_RANGE => "XENMAPSPACE_gmfn_range",
            XENMAPSPACE_GMFN_FOREIGN => "XENMAPSPACE_gmfn_foreign",
            XENMAPSPACE_DEV_MMIO => "XENMAPSPACE_dev_mmio",
            XENMAPIDX_GRANT_TABLE_STATUS => "XENMAPIDX_grant_table_status",
        }
        vcpu {
            VCPUOP_INITIALISE => "VCPUOP_initialise",
            VCPUOP_UP => "VCPUOP_up",
            VCPUOP_DOWN => "VCPUOP_down",
            VCPUOP_IS_UP => "VCPUOP_is_up",
            VCPUOP_GET_RUNSTATE_INFO => "VCPUOP_get_runstate_info",
            VCPUOP_REGISTER_RUNSTATE_MEMORY_AREA => "VCPUOP_register_runstate_memory_area",
            VCPUOP_SET_PERIODIC_TIMER => "VCPUOP_set_periodic_timer",
            VCPUOP_STOP_PERIODIC_TIMER => "VCPUOP_stop_periodic_timer",
            VCPUOP_SET_SINGLESHOT_TIMER => "VCPUOP_set_singleshot_timer",
            VCPUOP_STOP_SINGLESHOT_TIMER => "VCPUOP_stop_singleshot_timer",
            VCPUOP_REGISTER_VCPU_INFO => "VCPUOP_register_vcpu_info",
            VCPUOP_SEND_NMI => "VCPUOP_send_nmi",
            VCPUOP_GET_PHYSID => "VCPUOP_get_physid",
            VCPUOP_REGISTER_VCPU_TIME_MEMORY_AREA => "VCPUOP_register_vcpu_time_memory_area",
            RUNSTATE_RUNNING => "RUNSTATE_running",
            RUNSTATE_RUNNABLE => "RUNSTATE_runnable",
            RUNSTATE_BLOCKED => "RUNSTATE_blocked",
            RUNSTATE_OFFLINE => "RUNSTATE_offline",
            XEN_RUNSTATE_UPDATE,
            VCPU_SSHOTTMR_FUTURE_BIT => "_VCPU_SSHOTTMR_future",
            VCPU_SSHOTTMR_FUTURE => "VCPU_SSHOTTMR_future",
        }
        shared_info {
            XEN_LEGACY_MAX_VCPUS, XEN_PVCLOCK_TSC_STABLE_BIT, XEN_PVCLOCK_GUEST_STOPPED,
            MAX_GUEST_CMDLINE,
            SIF_PRIVILEGED, SIF_INITDOMAIN, SIF_MULTIBOOT_MOD, SIF_MOD_START_PFN,
            SIF_VIRT_P2M_4TOOLS, SIF_PM_MASK,
        }
        xen_elfnote {
            XEN_ELFNOTE_INFO, XEN_ELFNOTE_ENTRY, XEN_ELFNOTE_HYPERCALL_PAGE, XEN_ELFNOTE_VIRT_BASE,
            XEN_ELFNOTE_PADDR_OFFSET, XEN_ELFNOTE_XEN_VERSION, XEN_ELFNOTE_GUEST_OS,
            XEN_ELFNOTE_GUEST_VERSION, XEN_ELFNOTE_LOADER, XEN_ELFNOTE_PAE_MODE,
            XEN_ELFNOTE_FEATURES, XEN_ELFNOTE_BSD_SYMTAB, XEN_ELFNOTE_HV_START_LOW,
            XEN_ELFNOTE_L1_MFN_VALID, XEN_ELFNOTE_SUSPEND_CANCEL, XEN_ELFNOTE_INIT_P2M,
            XEN_ELFNOTE_MOD_START_PFN, XEN_ELFNOTE_SUPPORTED_FEATURES, XEN_ELFNOTE_PHYS32_ENTRY,
            XEN_ELFNOTE_MAX, XEN_ELFNOTE_CRASH_INFO, XEN_ELFNOTE_CRASH_REGS,
            XEN_ELFNOTE_DUMPCORE_NONE, XEN_ELFNOTE_DUMPCORE_HEADER,
            XEN_ELFNOTE_DUMPCORE_XEN_VERSION, XEN_ELFNOTE_DUMPCORE_FORMAT_VERSION,
        }
    }

    strings {
        xs_wire { XS_WRITE_NONE, XS_WRITE_CREATE, XS_WRITE_CREATE_EXCL }
    }

    rings {
        netif::NetifTxRequest, NetifTxResponse => "netif_tx",
        netif::NetifRxRequest, NetifRxResponse => "netif_rx",
        netif::NetifCtrlRequest, NetifCtrlResponse => "xen_netif_ctrl",
        blkif::BlkifRequest, BlkifResponse => "blkif",
    }

    errno_tables {
        xs_wire::XSD_ERRORS => "xsd_errors",
    }

    string_lists {
        grant_table::GNTTABOP_ERROR_MSGS => "GNTTABOP_error_msgs",
    }
}
