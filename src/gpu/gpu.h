/*
 * GPU discovery behind one interface. Backends, chosen at run time:
 * nvml (libnvidia-ml.so.1 by dlopen), nvidia-smi (its --query-gpu CSV, and
 * the table, XML and -L forms for captured outputs), sim (a JSON file).
 */
#ifndef GPUMGR_GPU_H
#define GPUMGR_GPU_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "common/common.h"

#define GPU_UNKNOWN	(-1)	/* a number the GPU did not report */
#define GPU_PROCS_MAX	32	/* processes listed per GPU */

/* A compute process holding VRAM on a GPU, whoever started it. */
struct gpu_proc {
	int		 pid;
	long		 used_mb;	/* GPU_UNKNOWN if not reported */
};

struct gpu_info {
	int		 index;
	char		 uuid[96];		/* "GPU-..." */
	char		 name[96];
	char		 pci_bus_id[32];	/* "00000000:18:00.0", "" unknown */
	long		 vram_total_mb;		/* GPU_UNKNOWN if not reported */
	long		 vram_used_mb;
	long		 vram_free_mb;
	char		 compute_capability[16];	/* "8.6", "" unknown */
	int		 util_pct;		/* GPU_UNKNOWN if not reported */
	int		 temp_c;
	bool		 mig;			/* MIG mode enabled */
	/* "ok", or why the GPU cannot be used: "lost", "xid:79", "ecc",
	 * "hot", "error: <text>". */
	char		 health[96];
	/* Compute processes on the GPU (gpumgr's own included: the daemon
	 * tells them apart). procs_known is false when the backend cannot
	 * list them; procs_used_mb is the VRAM they hold in all (for the sim
	 * backend, the file's vram_used_mb), GPU_UNKNOWN if not known. At
	 * most GPU_PROCS_MAX are listed; procs_used_mb counts them all. */
	bool		 procs_known;
	int		 nprocs;
	struct gpu_proc	 procs[GPU_PROCS_MAX];
	long		 procs_used_mb;
};

/* What an NVML event reports; see gpu_event_health for the policy. */
enum gpu_event_kind {
	GPU_EVENT_XID,		/* critical Xid error; data = the Xid */
	GPU_EVENT_ECC_DBE,	/* double-bit (uncorrectable) ECC error */
	GPU_EVENT_OTHER
};
struct gpu_event {
	char			 uuid[96];	/* "" if the device is unknown */
	enum gpu_event_kind	 kind;
	unsigned long long	 data;
};
struct gpu_event_list {
	struct gpu_event	*v;
	size_t			 n;
};

struct gpu_list {
	struct gpu_info	*v;
	size_t		 n;
	char		 source[32];	/* backend that produced it */
};

struct gpu_backend {
	const char	*name;		/* "nvml", "nvidia-smi", "sim" */
	/* Prepares the backend; fails (with the cause) if it cannot work here. */
	int		(*open)(void **state, const char *arg, struct err *);
	/* Reads every GPU now. */
	int		(*scan)(void *state, struct gpu_list *, struct err *);
	void		(*close)(void *state);
	/* Optional (NULL: the backend has no events): appends the events
	 * that arrived since the last call; never blocks. gpu_scan calls it
	 * after each scan (so GPUs the scan found are registered first). */
	int		(*events)(void *state, struct gpu_event_list *,
			    struct err *);
};

extern const struct gpu_backend gpu_backend_nvml;
extern const struct gpu_backend gpu_backend_smi;
extern const struct gpu_backend gpu_backend_sim;
extern const struct gpu_backend gpu_backend_slurm;

struct gpu_source;	/* an opened backend */

/* gpu.c */
/* WHICH: "auto" (nvml, else nvidia-smi), "nvml", "nvidia-smi", "sim".
 * ARG: the sim backend's GPUs file; NULL for the others. */
int	 gpu_open(const char *which, const char *arg, struct gpu_source **,
	    struct err *);
int	 gpu_scan(struct gpu_source *, struct gpu_list *, struct err *);
const char *gpu_source_name(const struct gpu_source *);
void	 gpu_close(struct gpu_source *);
void	 gpu_list_free(struct gpu_list *);
/* The JSON object `gpumgr gpus --json` prints for one GPU; unknown
 * numbers are null. */
json_t	*gpu_info_json(const struct gpu_info *);
json_t	*gpu_list_json(const struct gpu_list *);

/* The backends' helpers (gpu.c). */
void	 gpu_info_init(struct gpu_info *, int index);	/* unknown, "ok" */
struct gpu_info *gpu_list_add(struct gpu_list *, int index);
/* Sorts by index and fills vram_free_mb = total - used where the source
 * gave total and used but not free. */
void	 gpu_list_finish(struct gpu_list *);
/* A UUID that two GPUs of L report (a driver or capture fault: gpumgr
 * tells GPUs apart by UUID), in WHY as a warning; false if none. */
bool	 gpu_list_dup_uuid(const struct gpu_list *, char *why, size_t len);
/* True for a health that means the GPU cannot be used. */
bool	 gpu_health_failed(const char *health);
/* Adds a process to G (counted in procs_used_mb; listed while there is
 * room); marks G's processes known. */
void	 gpu_info_add_proc(struct gpu_info *g, int pid, long used_mb);
struct gpu_event *gpu_event_add(struct gpu_event_list *);
void	 gpu_event_list_free(struct gpu_event_list *);
/* The Xid policy (shared/reference/nvml.md §5): the application-error
 * Xids 13, 31, 43, 45, 68 and 109 leave the GPU healthy; every other Xid
 * is critical. */
bool	 gpu_xid_critical(unsigned long long xid);
/* The health an event gives its GPU ("xid:79", "ecc") and true, or false
 * when the GPU stays healthy. Such a health sticks (gpu_scan reports it)
 * until a scan no longer finds the GPU (removed or reset). */
bool	 gpu_event_health(const struct gpu_event *, char *health, size_t len);

/* gpu-smi.c: the nvidia-smi backend (runs the query, retries without
 * compute_cap on old drivers). GPUMGR_NVIDIA_SMI names the program. */
/* The --query-gpu fields the backend asks for, in its order. */
extern const char gpu_smi_fields[];

/* gpu-smiparse.c */
/* Parses nvidia-smi output of any captured form: --query-gpu CSV (with or
 * without header and units; columns mapped by header name, or in the
 * backend's own order when headerless), the default table, -q -x XML, -L,
 * and the error texts (GPU lost, NVML init failures, no devices). A GPU
 * named in an error line but absent from the data gets health "lost". */
int	 gpu_smi_parse(const char *text, size_t len, struct gpu_list *,
	    struct err *);
/* The same; FIELDS (comma-separated --query-gpu names) gives the columns
 * of a CSV without header; NULL means gpu_smi_fields. */
int	 gpu_smi_parse_fields(const char *text, size_t len, const char *fields,
	    struct gpu_list *, struct err *);
/* `--query-compute-apps=gpu_uuid,pid,used_memory --format=csv,noheader,
 * nounits` output (or the same with a header naming the columns): adds
 * each process to the GPU of L with that UUID and marks every GPU of L
 * as having its processes known. */
int	 gpu_smi_parse_apps(const char *text, size_t len, struct gpu_list *,
	    struct err *);

/* gpu-smitext.c: the human forms, for gpu-smiparse.c. LINES are the
 * output's lines (NUL-terminated, no newline). */
int	 gpu_smitext_table(char **lines, size_t n, struct gpu_list *,
	    struct err *);
int	 gpu_smitext_xml(const char *text, struct gpu_list *, struct err *);
/* Whether CELL ("ERR!", "[GPU requires reset]", "Unknown Error", "GPU is
 * lost", brackets or not) is nvidia-smi saying the GPU failed: then
 * HEALTH gets "lost" or "error: <what>". */
bool	 gpu_smitext_fault(const char *cell, char *health, size_t len);
/* The forms --from-file reads, for an error about one it does not. */
extern const char gpu_smi_forms[];
/* "0000:34:00.0" or "00000000:34:00.0" -> "00000000:34:00.0"; 0 or -1. */
int	 gpu_smitext_busid(const char *in, size_t inlen, char *out, size_t outlen);
/* A cell's number ("81559 MiB", "41", "7 %", "33 C", "[N/A]"): 0 and *v
 * set, 1 when the value is unknown, -1 when it is not a number. */
int	 gpu_smitext_number(const char *cell, long *v);

/* gpu-slurm.c: `sinfo -h -N -o '%N|%G|%T'` output (node, GRES, state)
 * into GPUs "slurm:NODE:I" (docs/slurm.md). */
int	 gpu_slurm_parse(const char *text, struct gpu_list *, struct err *);

/* gpu-sim.c */
/* Parses a simulated GPUs file (DESIGN §5). */
int	 gpu_sim_parse(const char *text, size_t len, const char *name,
	    struct gpu_list *, struct err *);
/* Writes a GPUs file for a spec like "5x24GB" or "2x24GB,1x80GB",
 * atomically (temp file, fsync, rename). */
int	 gpu_sim_write_spec(const char *path, const char *spec, struct err *);
/* The GPUs of a spec, without a file. */
int	 gpu_sim_spec_list(const char *spec, struct gpu_list *, struct err *);
/* The file's text for GPUS, a JSON array of GPU objects, one GPU per
 * line (caller frees). */
char	*gpu_sim_format(const json_t *gpus);
/* The file's JSON text for a spec (caller frees). */
char	*gpu_sim_spec_json(const char *spec, struct err *);

#endif
