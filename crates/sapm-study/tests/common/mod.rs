//! What the integration tests share: the pixel size of a written figure.

use std::path::Path;

/// Width and height of a PNG file (decoded, so a broken file fails).
pub fn png_size(p: &Path) -> (u32, u32) {
    let f = std::io::BufReader::new(std::fs::File::open(p).unwrap());
    let mut r = png::Decoder::new(f).read_info().unwrap();
    let mut buf = vec![0; r.output_buffer_size().unwrap()];
    let info = r.next_frame(&mut buf).unwrap();
    (info.width, info.height)
}

/// Width and height of an SVG file (parsed, so a broken file fails).
pub fn svg_size(p: &Path) -> (u32, u32) {
    let text = std::fs::read_to_string(p).unwrap();
    let doc = roxmltree::Document::parse(&text).unwrap();
    let root = doc.root_element();
    assert_eq!(root.tag_name().name(), "svg");
    let num = |k| root.attribute(k).unwrap().parse::<u32>().unwrap();
    (num("width"), num("height"))
}
