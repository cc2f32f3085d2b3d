//! Content-Encoding decoding for netkit's own HTTP/1.1 client: gzip, br and
//! zstd, decoded as the body arrives, straight into the body's writer.
//!
//! The decoders push their output into the writer in pieces of their own buffer
//! size, so a small compressed body that inflates hugely never sits whole in
//! memory: the writer sees each piece, and can stop the transfer (the size
//! limit) by returning an error.

use std::io::{self, Write};

/// A body's Content-Encoding, as far as it is decoded here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Encoding {
    /// Absent, `identity`, or one not decoded here: kept as it arrives.
    Identity,
    Gzip,
    Brotli,
    Zstd,
}

/// What every request offers in Accept-Encoding.
pub(crate) const ACCEPTED: &str = "gzip, br, zstd";

impl Encoding {
    /// The encoding a Content-Encoding header value names. A list of several
    /// encodings is not decoded, as is one not known here.
    pub fn from_header(value: &[u8]) -> Self {
        let value = value.trim_ascii();
        if value.eq_ignore_ascii_case(b"gzip") || value.eq_ignore_ascii_case(b"x-gzip") {
            Self::Gzip
        } else if value.eq_ignore_ascii_case(b"br") {
            Self::Brotli
        } else if value.eq_ignore_ascii_case(b"zstd") {
            Self::Zstd
        } else {
            Self::Identity
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::Identity => "identity",
            Self::Gzip => "gzip",
            Self::Brotli => "br",
            Self::Zstd => "zstd",
        }
    }
}

/// Decodes a body into `W` as its pieces are written.
pub(crate) struct Decoder<W: Write> {
    encoding: Encoding,
    /// `None` only after a decoder could not be set up.
    inner: Option<Inner<W>>,
}

enum Inner<W: Write> {
    /// No byte of the body yet: an empty body is empty whatever its encoding
    /// (a 204 with `Content-Encoding: gzip`), so the decoder starts with the
    /// first byte.
    Waiting(W),
    Identity(W),
    /// Every member of a multi-member body, as reqwest decodes them.
    Gzip(flate2::write::MultiGzDecoder<W>),
    Brotli(Box<brotli::DecompressorWriter<W>>),
    Zstd(zstd::stream::write::Decoder<'static, W>),
}

/// The decoders' output buffer: each write to `W` is at most this long.
const PIECE: usize = 32 << 10;

impl<W: Write> Decoder<W> {
    pub fn new(encoding: Encoding, sink: W) -> Self {
        Self {
            encoding,
            inner: Some(Inner::Waiting(sink)),
        }
    }

    /// Decodes all of `data` into the writer.
    pub fn write(&mut self, data: &[u8]) -> io::Result<()> {
        if data.is_empty() {
            return Ok(());
        }
        if let Some(Inner::Waiting(_)) = self.inner
            && let Some(Inner::Waiting(sink)) = self.inner.take()
        {
            self.inner = Some(match self.encoding {
                Encoding::Identity => Inner::Identity(sink),
                Encoding::Gzip => Inner::Gzip(flate2::write::MultiGzDecoder::new(sink)),
                Encoding::Brotli => {
                    Inner::Brotli(Box::new(brotli::DecompressorWriter::new(sink, PIECE)))
                }
                Encoding::Zstd => Inner::Zstd(zstd::stream::write::Decoder::new(sink)?),
            });
        }
        match &mut self.inner {
            Some(Inner::Waiting(sink) | Inner::Identity(sink)) => sink.write_all(data),
            Some(Inner::Gzip(decoder)) => decoder.write_all(data),
            Some(Inner::Brotli(decoder)) => decoder.write_all(data),
            Some(Inner::Zstd(decoder)) => decoder.write_all(data),
            None => Err(io::Error::other("no decoder")),
        }
    }

    pub fn sink(&mut self) -> Option<&mut W> {
        Some(match self.inner.as_mut()? {
            Inner::Waiting(sink) | Inner::Identity(sink) => sink,
            Inner::Gzip(decoder) => decoder.get_mut(),
            Inner::Brotli(decoder) => decoder.get_mut(),
            Inner::Zstd(decoder) => decoder.get_mut(),
        })
    }

    /// Writes out what the decoder still holds and checks that the encoded
    /// body was complete (an error if not).
    pub fn finish(&mut self) -> io::Result<()> {
        match &mut self.inner {
            Some(Inner::Waiting(_) | Inner::Identity(_)) => Ok(()),
            Some(Inner::Gzip(decoder)) => decoder.try_finish(),
            Some(Inner::Brotli(decoder)) => decoder.close(),
            Some(Inner::Zstd(decoder)) => decoder.do_finish(),
            None => Err(io::Error::other("no decoder")),
        }
    }

    /// The writer, once [`finish`](Self::finish) has succeeded.
    pub fn into_sink(self) -> io::Result<W> {
        match self.inner {
            Some(Inner::Waiting(sink) | Inner::Identity(sink)) => Ok(sink),
            // Finished already: this only hands the writer back.
            Some(Inner::Gzip(decoder)) => decoder.finish(),
            Some(Inner::Brotli(decoder)) => decoder
                .into_inner()
                .map_err(|_| io::Error::other("the br decoder kept its writer")),
            Some(Inner::Zstd(decoder)) => Ok(decoder.into_inner()),
            None => Err(io::Error::other("no decoder")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode(encoding: Encoding, encoded: &[u8], piece: usize) -> io::Result<Vec<u8>> {
        let mut decoder = Decoder::new(encoding, Vec::new());
        for chunk in encoded.chunks(piece) {
            decoder.write(chunk)?;
        }
        decoder.finish()?;
        decoder.into_sink()
    }

    fn encode(encoding: Encoding, plain: &[u8]) -> Vec<u8> {
        match encoding {
            Encoding::Identity => plain.to_vec(),
            Encoding::Gzip => {
                let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
                e.write_all(plain).unwrap();
                e.finish().unwrap()
            }
            Encoding::Brotli => {
                let mut out = Vec::new();
                let mut e = brotli::CompressorWriter::new(&mut out, 4096, 5, 22);
                e.write_all(plain).unwrap();
                drop(e);
                out
            }
            Encoding::Zstd => zstd::encode_all(plain, 3).unwrap(),
        }
    }

    const ALL: [Encoding; 4] = [
        Encoding::Identity,
        Encoding::Gzip,
        Encoding::Brotli,
        Encoding::Zstd,
    ];

    #[test]
    fn every_encoding_round_trips_whatever_the_piece_size() {
        let plain: Vec<u8> = (0..300_000u32).map(|i| (i * 7 % 251) as u8).collect();
        for encoding in ALL {
            let encoded = encode(encoding, &plain);
            for piece in [1, 7, 4096, encoded.len()] {
                let decoded = decode(encoding, &encoded, piece).unwrap();
                assert!(decoded == plain, "{} in pieces of {piece}", encoding.name());
            }
        }
    }

    #[test]
    fn a_truncated_or_corrupt_body_is_an_error() {
        let plain = vec![b'x'; 100_000];
        for encoding in [Encoding::Gzip, Encoding::Brotli, Encoding::Zstd] {
            let encoded = encode(encoding, &plain);
            let cut = &encoded[..encoded.len() / 2];
            assert!(decode(encoding, cut, 512).is_err(), "{}", encoding.name());
        }
        for encoding in [Encoding::Gzip, Encoding::Brotli, Encoding::Zstd] {
            assert!(
                decode(encoding, b"this is not compressed at all", 64).is_err(),
                "{}",
                encoding.name()
            );
        }
    }

    /// A writer that refuses more than `limit` bytes, as the size limit does.
    struct Capped {
        taken: usize,
        limit: usize,
        largest_piece: usize,
    }

    impl Write for Capped {
        fn write(&mut self, data: &[u8]) -> io::Result<usize> {
            self.largest_piece = self.largest_piece.max(data.len());
            self.taken += data.len();
            if self.taken > self.limit {
                return Err(io::Error::other("over the limit"));
            }
            Ok(data.len())
        }

        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_bomb_reaches_the_writer_in_pieces_and_stops_at_its_error() {
        let zeros = vec![0u8; 64 << 20];
        for encoding in [Encoding::Gzip, Encoding::Brotli, Encoding::Zstd] {
            let encoded = encode(encoding, &zeros);
            let sink = Capped {
                taken: 0,
                limit: 1 << 20,
                largest_piece: 0,
            };
            let mut decoder = Decoder::new(encoding, sink);
            assert!(decoder.write(&encoded).is_err(), "{}", encoding.name());
            let sink = decoder.sink().expect("a sink");
            assert!(sink.taken <= (1 << 20) + (256 << 10), "{}", encoding.name());
            assert!(sink.largest_piece <= 256 << 10, "{}", encoding.name());
        }
    }

    #[test]
    fn every_member_of_a_gzip_body_is_decoded() {
        let mut two = encode(Encoding::Gzip, b"first member, ");
        two.extend(encode(Encoding::Gzip, b"second member"));
        let decoded = decode(Encoding::Gzip, &two, 5).unwrap();
        assert_eq!(decoded, b"first member, second member");
    }

    #[test]
    fn an_empty_body_is_empty_whatever_its_encoding() {
        for encoding in ALL {
            assert_eq!(
                decode(encoding, b"", 1).unwrap(),
                b"",
                "{}",
                encoding.name()
            );
        }
    }

    #[test]
    fn header_values_name_the_encoding() {
        assert_eq!(Encoding::from_header(b" GZIP "), Encoding::Gzip);
        assert_eq!(Encoding::from_header(b"x-gzip"), Encoding::Gzip);
        assert_eq!(Encoding::from_header(b"br"), Encoding::Brotli);
        assert_eq!(Encoding::from_header(b"zstd"), Encoding::Zstd);
        assert_eq!(Encoding::from_header(b"gzip, br"), Encoding::Identity);
        assert_eq!(Encoding::from_header(b"deflate"), Encoding::Identity);
    }
}
