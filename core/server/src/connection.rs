//! Accepted connections, written as one buffer per flush instead of vectored writes.
//!
//! On a socket that claims vectored writes, h2 sends any DATA frame over 256 bytes as its own
//! iovec and cannot queue the trailers behind it, so a typical check answer (about 350 bytes)
//! costs two `writev` calls: frames and data, then trailers. Reporting the socket as
//! non-vectored raises h2's copy threshold to 1 KiB, so headers, data and trailers of an answer
//! leave in one `send`. On loopback each call also runs the receiver's TCP stack, so the second
//! call cost as much as a tenth of an answer's CPU.
//!
//! Tried and dropped: buffering writes and putting off the first flush of a batch, so that the
//! answers of one audit commit share a `send`. It cut sends per answer from 0.93 to 0.65 but not
//! the CPU per answer, measurably: the extra poll of the connection cost what the sends saved.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tonic::transport::server::{Connected, TcpConnectInfo};

/// A TCP connection that asks its writer to copy frames into one buffer.
pub struct Coalescing(pub TcpStream);

impl Connected for Coalescing {
    type ConnectInfo = TcpConnectInfo;

    fn connect_info(&self) -> Self::ConnectInfo {
        self.0.connect_info()
    }
}

impl AsyncRead for Coalescing {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().0).poll_read(cx, buf)
    }
}

impl AsyncWrite for Coalescing {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().0).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().0).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().0).poll_shutdown(cx)
    }

    fn is_write_vectored(&self) -> bool {
        false
    }
}
