//! The guest's file system: WASI's `wasi:filesystem/types`, as wasmtime-wasi
//! implements it over the granted directories, with two guards of weft's own
//! in front of it.
//!
//! - **Only directories and regular files are opened.** A FIFO, a socket or
//!   a device inside a grant (or reached through a symbolic link in one) is
//!   refused with `access`: opening a FIFO blocks until a writer comes, and
//!   wasmtime-wasi does its file work on the runtime's blocking threads,
//!   where a guest could hold one (and the process's exit) past its deadline.
//! - **Writes are counted against `max_disk`.** Every byte written through a
//!   descriptor or a file's output stream counts; a write past the limit
//!   ends the run with [`DiskQuotaExceeded`], classified as `output_limit`.
//!
//! Everything else is handed to wasmtime-wasi unchanged.

use super::state::RunState;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use wasmtime::component::{HasData, Linker, Resource};
use wasmtime_wasi::filesystem::{WasiFilesystemCtxView, WasiFilesystemView};
use wasmtime_wasi::p2::bindings::filesystem::types::{
    self, Descriptor, DescriptorType, ErrorCode, HostDescriptor, HostDirectoryEntryStream,
};
use wasmtime_wasi::p2::{DynInputStream, DynOutputStream, FsError, FsResult, OutputStream, Pollable, StreamError};

/// The bytes a run may still write to files, shared by its descriptors and
/// their streams.
#[derive(Debug)]
pub(crate) struct DiskQuota {
    limit: u64,
    used: AtomicU64,
}

/// A write went past the run's `max_disk`.
#[derive(Debug, Clone, thiserror::Error)]
#[error("the run wrote more than its limit of {} to files in its granted directories (max_disk)", weft_domain::Size(*.limit))]
pub struct DiskQuotaExceeded {
    /// The limit, in bytes.
    pub limit: u64,
}

impl DiskQuota {
    pub(crate) fn new(limit: u64) -> Arc<DiskQuota> {
        Arc::new(DiskQuota { limit, used: AtomicU64::new(0) })
    }

    /// Counts `bytes` about to be written, or refuses them all if they would
    /// go past the limit (nothing of a refused write is written).
    fn charge(&self, bytes: usize) -> Result<(), DiskQuotaExceeded> {
        let bytes = bytes as u64;
        let mut used = self.used.load(Ordering::Relaxed);
        loop {
            let after = used.saturating_add(bytes);
            if after > self.limit {
                return Err(DiskQuotaExceeded { limit: self.limit });
            }
            match self.used.compare_exchange_weak(used, after, Ordering::Relaxed, Ordering::Relaxed) {
                Ok(_) => return Ok(()),
                Err(now) => used = now,
            }
        }
    }

    /// Bytes written so far.
    #[cfg(test)]
    fn used(&self) -> u64 {
        self.used.load(Ordering::Relaxed)
    }
}

/// The file system a guest sees: wasmtime-wasi's, behind the guards.
pub(crate) struct GuardedFs<'a> {
    fs: WasiFilesystemCtxView<'a>,
    quota: Arc<DiskQuota>,
}

struct Guarded;

impl HasData for Guarded {
    type Data<'a> = GuardedFs<'a>;
}

fn guarded(state: &mut RunState) -> GuardedFs<'_> {
    let quota = state.disk.clone();
    GuardedFs { fs: state.filesystem(), quota }
}

/// Puts the guarded `wasi:filesystem/types` in place of wasmtime-wasi's
/// (added before, with the rest of WASI).
pub(crate) fn add_to_linker(linker: &mut Linker<RunState>) -> wasmtime::Result<()> {
    linker.allow_shadowing(true);
    let added = types::add_to_linker::<RunState, Guarded>(linker, guarded);
    linker.allow_shadowing(false);
    added
}

/// Whether a guest may open what has this type: a directory or a regular
/// file (a symbolic link is only opened when followed, and then has its
/// target's type).
fn openable(ty: DescriptorType) -> bool {
    matches!(ty, DescriptorType::Directory | DescriptorType::RegularFile | DescriptorType::SymbolicLink)
}

fn over_quota(e: DiskQuotaExceeded) -> FsError {
    FsError::trap(wasmtime::Error::new(e))
}

fn borrow(fd: &Resource<Descriptor>) -> Resource<Descriptor> {
    Resource::new_borrow(fd.rep())
}

impl types::Host for GuardedFs<'_> {
    fn convert_error_code(&mut self, err: FsError) -> wasmtime::Result<ErrorCode> {
        types::Host::convert_error_code(&mut self.fs, err)
    }

    fn filesystem_error_code(&mut self, err: Resource<wasmtime::Error>) -> wasmtime::Result<Option<ErrorCode>> {
        types::Host::filesystem_error_code(&mut self.fs, err)
    }
}

impl HostDescriptor for GuardedFs<'_> {
    async fn open_at(
        &mut self,
        fd: Resource<Descriptor>,
        path_flags: types::PathFlags,
        path: String,
        oflags: types::OpenFlags,
        flags: types::DescriptorFlags,
    ) -> FsResult<Resource<Descriptor>> {
        // What is there now, following links as the open would. A path that
        // does not exist yet (a file to create) is the open's to judge.
        if let Ok(stat) = self.fs.stat_at(borrow(&fd), path_flags, path.clone()).await
            && !openable(stat.type_)
        {
            return Err(ErrorCode::Access.into());
        }
        self.fs.open_at(fd, path_flags, path, oflags, flags).await
    }

    async fn write(
        &mut self,
        fd: Resource<Descriptor>,
        buf: Vec<u8>,
        offset: types::Filesize,
    ) -> FsResult<types::Filesize> {
        self.quota.charge(buf.len()).map_err(over_quota)?;
        self.fs.write(fd, buf, offset).await
    }

    fn write_via_stream(
        &mut self,
        fd: Resource<Descriptor>,
        offset: types::Filesize,
    ) -> FsResult<Resource<DynOutputStream>> {
        let stream = self.fs.write_via_stream(fd, offset)?;
        Ok(self.counted(stream)?)
    }

    fn append_via_stream(&mut self, fd: Resource<Descriptor>) -> FsResult<Resource<DynOutputStream>> {
        let stream = self.fs.append_via_stream(fd)?;
        Ok(self.counted(stream)?)
    }

    async fn advise(
        &mut self,
        fd: Resource<Descriptor>,
        offset: types::Filesize,
        len: types::Filesize,
        advice: types::Advice,
    ) -> FsResult<()> {
        self.fs.advise(fd, offset, len, advice).await
    }

    async fn sync_data(&mut self, fd: Resource<Descriptor>) -> FsResult<()> {
        self.fs.sync_data(fd).await
    }

    async fn get_flags(&mut self, fd: Resource<Descriptor>) -> FsResult<types::DescriptorFlags> {
        self.fs.get_flags(fd).await
    }

    async fn get_type(&mut self, fd: Resource<Descriptor>) -> FsResult<DescriptorType> {
        self.fs.get_type(fd).await
    }

    async fn set_size(&mut self, fd: Resource<Descriptor>, size: types::Filesize) -> FsResult<()> {
        self.fs.set_size(fd, size).await
    }

    async fn set_times(
        &mut self,
        fd: Resource<Descriptor>,
        atim: types::NewTimestamp,
        mtim: types::NewTimestamp,
    ) -> FsResult<()> {
        self.fs.set_times(fd, atim, mtim).await
    }

    async fn read(
        &mut self,
        fd: Resource<Descriptor>,
        len: types::Filesize,
        offset: types::Filesize,
    ) -> FsResult<(Vec<u8>, bool)> {
        self.fs.read(fd, len, offset).await
    }

    async fn read_directory(&mut self, fd: Resource<Descriptor>) -> FsResult<Resource<types::DirectoryEntryStream>> {
        self.fs.read_directory(fd).await
    }

    async fn sync(&mut self, fd: Resource<Descriptor>) -> FsResult<()> {
        self.fs.sync(fd).await
    }

    async fn create_directory_at(&mut self, fd: Resource<Descriptor>, path: String) -> FsResult<()> {
        self.fs.create_directory_at(fd, path).await
    }

    async fn stat(&mut self, fd: Resource<Descriptor>) -> FsResult<types::DescriptorStat> {
        self.fs.stat(fd).await
    }

    async fn stat_at(
        &mut self,
        fd: Resource<Descriptor>,
        path_flags: types::PathFlags,
        path: String,
    ) -> FsResult<types::DescriptorStat> {
        self.fs.stat_at(fd, path_flags, path).await
    }

    async fn set_times_at(
        &mut self,
        fd: Resource<Descriptor>,
        path_flags: types::PathFlags,
        path: String,
        atim: types::NewTimestamp,
        mtim: types::NewTimestamp,
    ) -> FsResult<()> {
        self.fs.set_times_at(fd, path_flags, path, atim, mtim).await
    }

    async fn link_at(
        &mut self,
        fd: Resource<Descriptor>,
        old_path_flags: types::PathFlags,
        old_path: String,
        new_descriptor: Resource<Descriptor>,
        new_path: String,
    ) -> FsResult<()> {
        self.fs.link_at(fd, old_path_flags, old_path, new_descriptor, new_path).await
    }

    fn drop(&mut self, fd: Resource<Descriptor>) -> wasmtime::Result<()> {
        HostDescriptor::drop(&mut self.fs, fd)
    }

    async fn readlink_at(&mut self, fd: Resource<Descriptor>, path: String) -> FsResult<String> {
        self.fs.readlink_at(fd, path).await
    }

    async fn remove_directory_at(&mut self, fd: Resource<Descriptor>, path: String) -> FsResult<()> {
        self.fs.remove_directory_at(fd, path).await
    }

    async fn rename_at(
        &mut self,
        fd: Resource<Descriptor>,
        old_path: String,
        new_fd: Resource<Descriptor>,
        new_path: String,
    ) -> FsResult<()> {
        self.fs.rename_at(fd, old_path, new_fd, new_path).await
    }

    async fn symlink_at(&mut self, fd: Resource<Descriptor>, src_path: String, dest_path: String) -> FsResult<()> {
        self.fs.symlink_at(fd, src_path, dest_path).await
    }

    async fn unlink_file_at(&mut self, fd: Resource<Descriptor>, path: String) -> FsResult<()> {
        self.fs.unlink_file_at(fd, path).await
    }

    fn read_via_stream(
        &mut self,
        fd: Resource<Descriptor>,
        offset: types::Filesize,
    ) -> FsResult<Resource<DynInputStream>> {
        self.fs.read_via_stream(fd, offset)
    }

    async fn is_same_object(&mut self, a: Resource<Descriptor>, b: Resource<Descriptor>) -> wasmtime::Result<bool> {
        self.fs.is_same_object(a, b).await
    }

    async fn metadata_hash(&mut self, fd: Resource<Descriptor>) -> FsResult<types::MetadataHashValue> {
        self.fs.metadata_hash(fd).await
    }

    async fn metadata_hash_at(
        &mut self,
        fd: Resource<Descriptor>,
        path_flags: types::PathFlags,
        path: String,
    ) -> FsResult<types::MetadataHashValue> {
        self.fs.metadata_hash_at(fd, path_flags, path).await
    }
}

impl HostDirectoryEntryStream for GuardedFs<'_> {
    async fn read_directory_entry(
        &mut self,
        stream: Resource<types::DirectoryEntryStream>,
    ) -> FsResult<Option<types::DirectoryEntry>> {
        self.fs.read_directory_entry(stream).await
    }

    fn drop(&mut self, stream: Resource<types::DirectoryEntryStream>) -> wasmtime::Result<()> {
        HostDirectoryEntryStream::drop(&mut self.fs, stream)
    }
}

impl GuardedFs<'_> {
    /// Puts a counting stream in the table in place of the file stream
    /// wasmtime-wasi made.
    fn counted(
        &mut self,
        stream: Resource<DynOutputStream>,
    ) -> Result<Resource<DynOutputStream>, wasmtime::component::ResourceTableError> {
        let inner: DynOutputStream = self.fs.table.delete(stream)?;
        let counted: DynOutputStream = Box::new(Counted { inner, quota: self.quota.clone() });
        self.fs.table.push(counted)
    }
}

/// A file's output stream whose writes count against the disk quota.
struct Counted {
    inner: DynOutputStream,
    quota: Arc<DiskQuota>,
}

impl Counted {
    fn charge(&self, bytes: usize) -> Result<(), StreamError> {
        self.quota.charge(bytes).map_err(|e| StreamError::Trap(wasmtime::Error::new(e)))
    }
}

#[async_trait::async_trait]
impl Pollable for Counted {
    async fn ready(&mut self) {
        self.inner.ready().await
    }
}

#[async_trait::async_trait]
impl OutputStream for Counted {
    fn write(&mut self, bytes: bytes::Bytes) -> Result<(), StreamError> {
        self.charge(bytes.len())?;
        self.inner.write(bytes)
    }

    fn flush(&mut self) -> Result<(), StreamError> {
        self.inner.flush()
    }

    fn check_write(&mut self) -> Result<usize, StreamError> {
        self.inner.check_write()
    }

    async fn blocking_write_and_flush(&mut self, bytes: bytes::Bytes) -> Result<(), StreamError> {
        self.charge(bytes.len())?;
        self.inner.blocking_write_and_flush(bytes).await
    }

    fn write_zeroes(&mut self, nelem: usize) -> Result<(), StreamError> {
        self.charge(nelem)?;
        self.inner.write_zeroes(nelem)
    }

    async fn write_ready(&mut self) -> Result<usize, StreamError> {
        self.inner.write_ready().await
    }

    async fn cancel(&mut self) {
        self.inner.cancel().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_quota_counts_every_write_and_refuses_the_one_past_it_whole() {
        let q = DiskQuota::new(10);
        assert!(q.charge(4).is_ok());
        assert!(q.charge(6).is_ok(), "exactly the limit is allowed");
        assert_eq!(q.charge(1).unwrap_err().limit, 10);
        assert_eq!(q.used(), 10, "a refused write counts nothing");
        assert!(q.charge(0).is_ok());
    }

    #[test]
    fn only_directories_and_regular_files_are_opened() {
        assert!(openable(DescriptorType::Directory));
        assert!(openable(DescriptorType::RegularFile));
        for special in [
            DescriptorType::CharacterDevice,
            DescriptorType::BlockDevice,
            DescriptorType::Fifo,
            DescriptorType::Socket,
            DescriptorType::Unknown,
        ] {
            assert!(!openable(special), "{special:?}");
        }
    }
}
