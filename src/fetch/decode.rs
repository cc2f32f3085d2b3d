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
pub(crate) enum Decoder<W: Write> {
    Identity(W),
    Gzip(flate2::write::GzDecoder<W>),
    Brotli(Box<brotli::DecompressorWriter<W>>),
    Zstd(zstd::stream::write::Decoder<'static, W>),
}

/// The decoders' output buffer: each write to `W` is at most this long.
const PIECE: usize = 32 << 10;

impl<W: Write> Decoder<W> {
    pub fn new(encoding: Encoding, sink: W) -> io::Result<Self> {
        Ok(match encoding {
            Encoding::Identity => Self::Identity(sink),
            Encoding::Gzip => Self::Gzip(flate2::write::GzDecoder::new(sink)),
            Encoding::Brotli => {
                Self::Brotli(Box::new(brotli::DecompressorWriter::new(sink, PIECE)))
            }
            Encoding::Zstd => Self::Zstd(zstd::stream::write::Decoder::new(sink)?),
        })
    }

    /// Decodes all of `data` into the writer.
    pub fn write(&mut self, data: &[u8]) -> io::Result<()> {
        match self {
            Self::Identity(sink) => sink.write_all(data),
            Self::Gzip(decoder) => decoder.write_all(data),
            Self::Brotli(decoder) => decoder.write_all(data),
            Self::Zstd(decoder) => decoder.write_all(data),
        }
    }

    pub fn sink(&mut self) -> &mut W {
        match self {
            Self::Identity(sink) => sink,
            Self::Gzip(decoder) => decoder.get_mut(),
            Self::Brotli(decoder) => decoder.get_mut(),
            Self::Zstd(decoder) => decoder.get_mut(),
        }
    }

    /// Writes out what the decoder still holds, checks that the encoded body
    /// was complete, and hands back the writer.
    pub fn finish(self) -> io::Result<W> {
        match self {
            Self::Identity(sink) => Ok(sink),
            Self::Gzip(decoder) => decoder.finish(),
            Self::Brotli(mut decoder) => {
                decoder.close()?;
                decoder
                    .into_inner()
                    .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "truncated br data"))
            }
            Self::Zstd(mut decoder) => {
                decoder.flush()?;
                Ok(decoder.into_inner())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode(encoding: Encoding, encoded: &[u8], piece: usize) -> io::Result<Vec<u8>> {
        let mut decoder = Decoder::new(encoding, Vec::new())?;
        for chunk in encoded.chunks(piece) {
            decoder.write(chunk)?;
        }
        decoder.finish()
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
        for encoding in [Encoding::Gzip, Encoding::Brotli] {
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
            let mut decoder = Decoder::new(encoding, sink).unwrap();
            assert!(decoder.write(&encoded).is_err(), "{}", encoding.name());
            let sink = decoder.sink();
            assert!(sink.taken <= (1 << 20) + (256 << 10), "{}", encoding.name());
            assert!(sink.largest_piece <= 256 << 10, "{}", encoding.name());
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
