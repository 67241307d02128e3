//! What the benchmark binaries share: the echo contract, the person they check, and reading a
//! process's CPU time.

/// Generated `shikaku.bench.v1` messages, client and server.
pub mod proto {
    #![allow(clippy::all, missing_docs)]
    tonic::include_proto!("shikaku.bench.v1");
}

/// utime + stime of all threads of `pid`, in seconds.
pub fn process_cpu_s(pid: u32) -> Result<f64, Box<dyn std::error::Error>> {
    /// /proc counts clock ticks of USER_HZ, which Linux fixes at 100 for userspace.
    const USER_HZ: f64 = 100.0;
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // Field 2, the command name, is parenthesised and may contain spaces; split after it.
    let (_, rest) = stat.rsplit_once(')').ok_or("malformed /proc stat")?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // Fields 14 (utime) and 15 (stime), counted from field 3 (state) here.
    let utime: u64 = fields.get(11).ok_or("short /proc stat")?.parse()?;
    let stime: u64 = fields.get(12).ok_or("short /proc stat")?.parse()?;
    Ok((utime + stime) as f64 / USER_HZ)
}

/// The embedded simulator's fixture person "taro" (valid insurance), by insurance numbers.
pub fn taro() -> shikaku_proto::v1::CheckByInsuranceNumbersRequest {
    shikaku_proto::v1::CheckByInsuranceNumbersRequest {
        insurer_number: "06130488".into(),
        symbol: "12-34".into(),
        number: "4260".into(),
        branch: "01".into(),
        birth_date: "1970-01-01".into(),
        ..Default::default()
    }
}
