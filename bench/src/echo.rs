//! `shikaku-echo`: the baseline for the benchmark. A tonic server with one trivial unary RPC,
//! built like shikakud (tokio multi-thread runtime with its default worker count, mimalloc,
//! workspace release profile), so whatever shikakud costs beyond it is its own work.

use std::net::SocketAddr;

use clap::Parser;
use shikaku_bench::proto::echo_service_server::{EchoService, EchoServiceServer};
use shikaku_bench::proto::{EchoRequest, EchoResponse};
use tonic::transport::Server;
use tonic::transport::server::TcpIncoming;
use tonic::{Request, Response, Status};

/// The same allocator as shikakud.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(about = "Bare tonic echo server, the baseline shikakud is benchmarked against")]
struct Args {
    /// Address to listen on; port 0 picks a free one.
    #[arg(long, default_value = "127.0.0.1:50551")]
    listen: SocketAddr,
}

struct Echo;

#[tonic::async_trait]
impl EchoService for Echo {
    async fn echo(&self, request: Request<EchoRequest>) -> Result<Response<EchoResponse>, Status> {
        let payload = request.into_inner().payload;
        Ok(Response::new(EchoResponse { payload }))
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    // Bind before printing so the line names the real port; `Server::serve` would set
    // TCP_NODELAY itself, `serve_with_incoming` needs it set here.
    let incoming = TcpIncoming::bind(args.listen)?.with_nodelay(Some(true));
    println!("listening on {}", incoming.local_addr()?);
    Server::builder()
        .add_service(EchoServiceServer::new(Echo))
        .serve_with_incoming(incoming)
        .await?;
    Ok(())
}
