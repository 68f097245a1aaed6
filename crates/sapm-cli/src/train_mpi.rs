//! `mpirun -n K sapm train --config F --out DIR` (feature `mpi`): one
//! process per rank, each training on its shard of the samples or PINN points
//! (`sapm::fit::distributed`); rank 0 alone writes the output folder. A rank
//! that fails prints its error and aborts the whole job (`MPI_Abort`), so no
//! rank is left waiting in a collective; a rank that dies is detected by
//! mpirun, which ends the others (docs/distributed.md).

use crate::train_cmd::{Phases, TrainArgs, load_config, report, write_run};
use anyhow::{Result, bail};
use sapm::driver::{NoObserver, Status};
use sapm::fit::{
    CheckpointFile, fit_distributed_checkpointed, fit_shard_checkpointed, open_rank_checkpoints,
    rank_file_name,
};
use sapm::linalg::SharedReducer;
use sapm::linalg::mpi::MpiSession;
use sapm::outdir::OutDir;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

/// Whether this process was started by an MPI launcher (Open MPI's mpirun,
/// or a PMI/PMIx launcher such as Slurm's srun).
pub fn launched_by_mpi() -> bool {
    ["OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_SIZE"]
        .iter()
        .any(|k| std::env::var_os(k).is_some())
}

/// Train as one rank of an MPI job.
pub fn train(a: TrainArgs) -> Result<ExitCode> {
    let session = MpiSession::init()?;
    let reducer = Arc::new(session.reducer());
    let (rank, size) = (
        sapm::linalg::Reducer::rank(reducer.as_ref()),
        sapm::linalg::Reducer::size(reducer.as_ref()),
    );
    match run(&a, reducer, rank) {
        Ok(code) => Ok(code),
        Err(e) => {
            // Errors every rank meets alike (config, data) are said once:
            // rank 0's abort normally ends the others within this second.
            if rank > 0 {
                std::thread::sleep(std::time::Duration::from_secs(1));
            }
            eprintln!("error (rank {rank} of {size}): {e:#}");
            session.abort(1)
        }
    }
}

fn run(a: &TrainArgs, reducer: SharedReducer, rank: usize) -> Result<ExitCode> {
    let t0 = Instant::now();
    let size = sapm::linalg::Reducer::size(reducer.as_ref());
    let Some(out) = a.out.as_deref().or(a.resume.as_deref()) else {
        bail!(crate::Usage("--out is required".into()));
    };
    let own_file = rank_file_name(rank, size);
    // The checkpoint of a run on any number of processes (one collective).
    let mut reader = match &a.resume {
        Some(dir) => Some(open_rank_checkpoints(dir, &reducer)?),
        None => None,
    };
    let cfg = load_config(a, reader.as_ref())?;
    sapm::fit::build::check_distributed(&cfg)?;
    // Each rank reads its rows of the data (before the output folder is
    // locked); PINN runs sample their points from `[pde]` on every rank.
    let shard = match cfg.pde {
        None => Some(cfg.data.load_shard(cfg.seed, rank, size)?),
        Some(_) => None,
    };
    // Rank 0 owns the output folder; it is locked before training starts.
    let outdir = if rank == 0 {
        Some(OutDir::open(out)?)
    } else {
        None
    };
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(cfg.threads)
        .build()?;
    // Every rank writes its own checkpoint file, at the same iterations.
    let mut ckpt = CheckpointFile::new(&out.join(&own_file), &cfg);
    let fitted = pool.install(|| match &shard {
        Some(s) => fit_shard_checkpointed(
            &cfg,
            s,
            reducer,
            &mut NoObserver,
            Some(&mut ckpt),
            reader.as_mut(),
        ),
        None => fit_distributed_checkpointed(
            &cfg,
            None,
            reducer,
            &mut NoObserver,
            Some(&mut ckpt),
            reader.as_mut(),
        ),
    })?;
    let Some(outdir) = outdir else {
        return Ok(ExitCode::SUCCESS);
    };
    let mut phases = Phases {
        training: t0.elapsed().as_secs_f64(),
        ..Phases::default()
    };
    let tw = Instant::now();
    let mut stage = outdir.stage()?;
    write_run(&mut stage, out, "", &fitted, Some((&mut phases, tw, 0.0)))?;
    stage.publish()?;
    if !a.quiet {
        report(&fitted, out, &phases);
    }
    Ok(match fitted.summary.status {
        Status::Diverged => ExitCode::from(3),
        _ => ExitCode::SUCCESS,
    })
}
