use std::fs;
use std::path::Path;

/// How a slab cache lays out its objects (`/sys/kernel/slab/NAME`, SLUB): what one object really takes
/// from the page allocator once packing waste is counted, and whether the cache exists at all when SLUB
/// merged it into another one (then `/proc/slabinfo` lists it under that other name).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SlabLayout {
    /// `object_size`: the C struct's size.
    pub object_size: u64,
    /// Slab bytes per object: `(page_size << order) / objs_per_slab`.
    pub footprint: u64,
    /// Objects in use (`objects`); for a merged cache, those of every cache sharing it.
    pub objects: u64,
}

impl SlabLayout {
    /// Read the layout of cache `name` under `sys_slab` (normally `/sys/kernel/slab`); `None` if the
    /// cache does not exist or its files cannot be read.
    pub fn read(sys_slab: &Path, name: &str, page_size: u64) -> Option<SlabLayout> {
        let dir = sys_slab.join(name);
        // `objects` reads "400105 N0=400105": the total, then per NUMA node.
        let number = |file: &str| -> Option<u64> {
            fs::read_to_string(dir.join(file))
                .ok()?
                .split_whitespace()
                .next()?
                .parse()
                .ok()
        };
        let per_slab = number("objs_per_slab")?.max(1);
        Some(SlabLayout {
            object_size: number("object_size")?,
            footprint: (page_size << number("order")?) / per_slab,
            objects: number("objects")?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn footprint_counts_packing_waste() {
        let dir = tempfile::tempdir().unwrap();
        let tcp = dir.path().join("TCP");
        fs::create_dir(&tcp).unwrap();
        let files = [
            ("objs_per_slab", "13\n"),
            ("order", "3\n"),
            ("object_size", "2304\n"),
            ("objects", "26 N0=26\n"),
        ];
        for (file, value) in files {
            fs::write(tcp.join(file), value).unwrap();
        }
        let layout = SlabLayout::read(dir.path(), "TCP", 4096).unwrap();
        assert_eq!(
            layout,
            SlabLayout {
                object_size: 2304,
                footprint: 32768 / 13,
                objects: 26
            }
        );
        assert_eq!(SlabLayout::read(dir.path(), "nope", 4096), None);
        fs::write(tcp.join("order"), "x").unwrap();
        assert_eq!(SlabLayout::read(dir.path(), "TCP", 4096), None);
    }
}
