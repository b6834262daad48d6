//! Every public type's Send/Sync status, asserted at compile time.

fn send<T: Send>() {}
fn sync<T: Sync>() {}

#[test]
fn public_types_are_send_and_sync() {
    send::<weft::Thread>();
    sync::<weft::Thread>();
    send::<weft::ThreadId>();
    sync::<weft::ThreadId>();
    send::<weft::JoinHandle<u32>>();
    sync::<weft::JoinHandle<u32>>();
    send::<weft::Builder>();
    sync::<weft::Builder>();
    send::<weft::Runtime>();
    sync::<weft::Runtime>();
    send::<weft::RuntimeBuilder>();
    sync::<weft::ScopedJoinHandle<'static, u32>>();
    send::<weft::ScopedJoinHandle<'static, u32>>();
    sync::<weft::Scope<'static, 'static>>();
    sync::<weft::park::WaitReason>();
    send::<weft::park::Unparked>();
}

#[test]
fn stm_types_are_send_and_sync() {
    send::<weft::stm::TVar<u32>>();
    sync::<weft::stm::TVar<u32>>();
    send::<weft::stm::TQueue<String>>();
    sync::<weft::stm::TQueue<String>>();
    send::<weft::stm::StmError>();
    sync::<weft::stm::StmError>();
    send::<weft::stm::Stats>();
    sync::<weft::stm::Stats>();
}

#[test]
fn multitasking_and_io_types_are_send_and_sync() {
    send::<weft::runtime::watchdog::Stall>();
    sync::<weft::runtime::watchdog::Stall>();
    send::<weft::runtime::watchdog::StallKind>();
    sync::<weft::runtime::watchdog::StallKind>();
    send::<weft::runtime::preempt::Stats>();
    sync::<weft::runtime::preempt::Stats>();
    send::<weft::fs::File>();
    sync::<weft::fs::File>();
    send::<weft::net::UdpSocket>();
    sync::<weft::net::UdpSocket>();
    send::<weft::RuntimeBuilder>();
    sync::<weft::RuntimeBuilder>();
}
