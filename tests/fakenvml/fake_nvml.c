/*
 * A stand-in for libnvidia-ml.so.1, so the NVML backend can be tested on
 * machines without NVIDIA GPUs. It exports the entry points gpumgr resolves
 * and answers from a JSON script named by GPUMGR_FAKE_NVML_SCRIPT, re-read
 * at every nvmlInit_v2:
 *
 *   {"init": 0, "count_rc": 0,
 *    "gpus": [{"uuid": "GPU-...", "name": "...", "pci_bus_id": "...",
 *              "total_mb": 24576, "used_mb": 100, "free_mb": 24000,
 *              "cc": [8, 6], "util": 40, "temp": 55, "mig": false,
 *              "ecc_uncorrected": 0,
 *              "processes": [{"pid": 4242, "used_mb": 20000}],
 *              "rc": {"GetMemoryInfo": 15, "HandleByIndex": 15}}],
 *    "events": [{"gpu": 0, "type": "xid", "data": 79},
 *               {"gpu": 1, "type": "ecc"}]}
 *
 * "init" is the code nvmlInit_v2 returns; "rc" gives a GPU's per-function
 * return codes (functions named without the nvmlDevice prefix). Each
 * event is delivered once, by nvmlEventSetWait_v2, after its GPU has been
 * registered for its type ("xid": 0x8, "ecc": the double-bit 0x2); "used_mb"
 * -1 reports the usage as not available.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#define FAKE_MAX	64
#define FAKE_EVENTS	64

struct fake_proc {		/* nvmlProcessInfo_v2_t */
	unsigned int		pid;
	unsigned long long	used;
	unsigned int		gpu_instance, compute_instance;
};
struct fake_event {		/* nvmlEventData_t */
	void			*device;
	unsigned long long	type, data;
	unsigned int		gpu_instance, compute_instance;
};

struct fake_memory {
	unsigned long long	total, free, used;
};
struct fake_util {
	unsigned int		gpu, memory;
};
struct fake_pci {
	char			bus_id_legacy[16];
	unsigned int		domain, bus, device, pci_device_id;
	unsigned int		pci_subsystem_id;
	char			bus_id[32];
};

/* The exported NVML entry points (declared for -Wmissing-prototypes). */
int	 nvmlInit_v2(void);
int	 nvmlShutdown(void);
const char *nvmlErrorString(int);
int	 nvmlDeviceGetCount_v2(unsigned int *);
int	 nvmlDeviceGetHandleByIndex_v2(unsigned int, void **);
int	 nvmlDeviceGetUUID(void *, char *, unsigned int);
int	 nvmlDeviceGetName(void *, char *, unsigned int);
int	 nvmlDeviceGetMemoryInfo(void *, struct fake_memory *);
int	 nvmlDeviceGetPciInfo_v3(void *, struct fake_pci *);
int	 nvmlDeviceGetCudaComputeCapability(void *, int *, int *);
int	 nvmlDeviceGetUtilizationRates(void *, struct fake_util *);
int	 nvmlDeviceGetTemperature(void *, int, unsigned int *);
int	 nvmlDeviceGetMigMode(void *, unsigned int *, unsigned int *);
int	 nvmlDeviceGetTotalEccErrors(void *, int, int, unsigned long long *);
int	 nvmlDeviceGetComputeRunningProcesses_v3(void *, unsigned int *,
	    struct fake_proc *);
int	 nvmlEventSetCreate(void **);
int	 nvmlEventSetFree(void *);
int	 nvmlDeviceGetSupportedEventTypes(void *, unsigned long long *);
int	 nvmlDeviceRegisterEvents(void *, unsigned long long, void *);
int	 nvmlEventSetWait_v2(void *, struct fake_event *, unsigned int);

static json_t *fake_script;
static int fake_handles[FAKE_MAX];
static int fake_set;			/* the one event set */
static bool fake_set_live;
/* Per scripted event: queued (registered for), delivered. */
static bool fake_queued[FAKE_EVENTS], fake_delivered[FAKE_EVENTS];

static json_t *
fake_gpu(void *d)
{
	int *h = d;

	if (fake_script == NULL || h < fake_handles ||
	    h >= fake_handles + FAKE_MAX)
		return NULL;
	return json_array_get(json_object_get(fake_script, "gpus"),
	    (size_t)(h - fake_handles));
}

static json_int_t
fake_int(json_t *o, const char *key, json_int_t dflt)
{
	json_t *v = json_object_get(o, key);

	return json_is_integer(v) ? json_integer_value(v) : dflt;
}

/* The scripted return code of FUNC for the GPU, 0 if none; 2 (invalid
 * argument) for a handle the fake did not give out. */
static int
fake_rc(void *d, const char *func)
{
	json_t *g = fake_gpu(d);

	if (g == NULL)
		return 2;
	return (int)fake_int(json_object_get(g, "rc"), func, 0);
}

static int
fake_copy(json_t *g, const char *key, char *buf, unsigned int len)
{
	const char *s = json_string_value(json_object_get(g, key));

	if (s == NULL)
		s = "";
	if (strlen(s) + 1 > len)
		return 7;	/* INSUFFICIENT_SIZE */
	memcpy(buf, s, strlen(s) + 1);
	return 0;
}

int
nvmlInit_v2(void)
{
	const char *path = getenv("GPUMGR_FAKE_NVML_SCRIPT");
	json_error_t je;
	int rc;

	json_decref(fake_script);
	fake_script = NULL;
	memset(fake_queued, 0, sizeof fake_queued);
	memset(fake_delivered, 0, sizeof fake_delivered);
	if (path == NULL || (fake_script = json_load_file(path, 0, &je)) ==
	    NULL)
		return 9;	/* DRIVER_NOT_LOADED */
	rc = (int)fake_int(fake_script, "init", 0);
	if (rc != 0) {
		/* a failed init needs no shutdown: keep nothing */
		json_decref(fake_script);
		fake_script = NULL;
	}
	return rc;
}

int
nvmlShutdown(void)
{
	json_decref(fake_script);
	fake_script = NULL;
	return 0;
}

const char *
nvmlErrorString(int rc)
{
	switch (rc) {
	case 0: return "Success";
	case 2: return "Invalid Argument";
	case 3: return "Not Supported";
	case 4: return "Insufficient Permissions";
	case 9: return "Driver Not Loaded";
	case 15: return "GPU is lost";
	case 18: return "Driver/library version mismatch";
	case 28: return "No GPUs were found";
	default: return "Unknown Error";
	}
}

int
nvmlDeviceGetCount_v2(unsigned int *n)
{
	int rc = (int)fake_int(fake_script, "count_rc", 0);

	if (rc != 0)
		return rc;
	*n = (unsigned int)json_array_size(json_object_get(fake_script,
	    "gpus"));
	if (*n > FAKE_MAX)
		*n = FAKE_MAX;
	return 0;
}

int
nvmlDeviceGetHandleByIndex_v2(unsigned int i, void **d)
{
	int rc;

	if (i >= FAKE_MAX || fake_gpu(&fake_handles[i]) == NULL)
		return 2;
	if ((rc = fake_rc(&fake_handles[i], "HandleByIndex")) != 0)
		return rc;
	*d = &fake_handles[i];
	return 0;
}

int
nvmlDeviceGetUUID(void *d, char *buf, unsigned int len)
{
	int rc = fake_rc(d, "GetUUID");

	return rc != 0 ? rc : fake_copy(fake_gpu(d), "uuid", buf, len);
}

int
nvmlDeviceGetName(void *d, char *buf, unsigned int len)
{
	int rc = fake_rc(d, "GetName");

	return rc != 0 ? rc : fake_copy(fake_gpu(d), "name", buf, len);
}

int
nvmlDeviceGetMemoryInfo(void *d, struct fake_memory *m)
{
	int rc = fake_rc(d, "GetMemoryInfo");
	json_t *g = fake_gpu(d);
	const unsigned long long mib = 1024ULL * 1024;

	if (rc != 0)
		return rc;
	m->total = (unsigned long long)fake_int(g, "total_mb", 0) * mib;
	m->used = (unsigned long long)fake_int(g, "used_mb", 0) * mib;
	m->free = (unsigned long long)fake_int(g, "free_mb", 0) * mib;
	return 0;
}

int
nvmlDeviceGetPciInfo_v3(void *d, struct fake_pci *p)
{
	int rc = fake_rc(d, "GetPciInfo");

	if (rc != 0)
		return rc;
	memset(p, 0, sizeof *p);
	return fake_copy(fake_gpu(d), "pci_bus_id", p->bus_id,
	    sizeof p->bus_id);
}

int
nvmlDeviceGetCudaComputeCapability(void *d, int *major, int *minor)
{
	int rc = fake_rc(d, "GetCudaComputeCapability");
	json_t *cc = json_object_get(fake_gpu(d), "cc");

	if (rc != 0)
		return rc;
	if (!json_is_array(cc))
		return 3;
	*major = (int)json_integer_value(json_array_get(cc, 0));
	*minor = (int)json_integer_value(json_array_get(cc, 1));
	return 0;
}

int
nvmlDeviceGetUtilizationRates(void *d, struct fake_util *u)
{
	int rc = fake_rc(d, "GetUtilizationRates");

	if (rc != 0)
		return rc;
	u->gpu = (unsigned int)fake_int(fake_gpu(d), "util", 0);
	u->memory = 0;
	return 0;
}

int
nvmlDeviceGetTemperature(void *d, int sensor, unsigned int *t)
{
	int rc = fake_rc(d, "GetTemperature");

	if (rc != 0)
		return rc;
	if (sensor != 0)
		return 2;
	*t = (unsigned int)fake_int(fake_gpu(d), "temp", 0);
	return 0;
}

int
nvmlDeviceGetMigMode(void *d, unsigned int *cur, unsigned int *pending)
{
	int rc = fake_rc(d, "GetMigMode");

	if (rc != 0)
		return rc;
	*cur = *pending = json_is_true(json_object_get(fake_gpu(d), "mig"));
	return 0;
}

int
nvmlDeviceGetTotalEccErrors(void *d, int type, int counter,
    unsigned long long *count)
{
	int rc = fake_rc(d, "GetTotalEccErrors");

	if (rc != 0)
		return rc;
	if (type != 1 || counter != 0)
		return 2;
	*count = (unsigned long long)fake_int(fake_gpu(d), "ecc_uncorrected",
	    0);
	return 0;
}

int
nvmlDeviceGetComputeRunningProcesses_v3(void *d, unsigned int *count,
    struct fake_proc *out)
{
	int rc = fake_rc(d, "GetComputeRunningProcesses");
	json_t *a = json_object_get(fake_gpu(d), "processes"), *p;
	unsigned int n = (unsigned int)json_array_size(a), i;
	json_int_t mb;

	if (rc != 0)
		return rc;
	if (*count < n) {
		*count = n;
		return n == 0 ? 0 : 7;	/* INSUFFICIENT_SIZE */
	}
	*count = n;
	for (i = 0; i < n; i++) {
		p = json_array_get(a, i);
		memset(&out[i], 0, sizeof out[i]);
		out[i].pid = (unsigned int)fake_int(p, "pid", 0);
		mb = fake_int(p, "used_mb", 0);
		out[i].used = mb < 0 ? ~0ULL :
		    (unsigned long long)mb * 1024 * 1024;
	}
	return 0;
}

int
nvmlEventSetCreate(void **set)
{
	if (fake_script == NULL)
		return 1;	/* UNINITIALIZED */
	fake_set_live = true;
	*set = &fake_set;
	return 0;
}

int
nvmlEventSetFree(void *set)
{
	if (set != &fake_set || !fake_set_live)
		return 2;
	fake_set_live = false;
	return 0;
}

int
nvmlDeviceGetSupportedEventTypes(void *d, unsigned long long *types)
{
	int rc = fake_rc(d, "GetSupportedEventTypes");

	if (rc != 0)
		return rc;
	*types = (unsigned long long)fake_int(fake_gpu(d), "event_types",
	    0x2 | 0x8 | 0x1 | 0x4);
	return 0;
}

static unsigned long long
fake_event_type(json_t *ev)
{
	const char *t = json_string_value(json_object_get(ev, "type"));

	if (t != NULL && strcmp(t, "ecc") == 0)
		return 0x2;
	return 0x8;
}

int
nvmlDeviceRegisterEvents(void *d, unsigned long long types, void *set)
{
	json_t *evs = json_object_get(fake_script, "events"), *ev;
	int rc = fake_rc(d, "RegisterEvents");
	size_t i;

	if (rc != 0)
		return rc;
	if (fake_gpu(d) == NULL || set != &fake_set || !fake_set_live)
		return 2;
	for (i = 0; i < json_array_size(evs) && i < FAKE_EVENTS; i++) {
		ev = json_array_get(evs, i);
		if (fake_int(ev, "gpu", -1) == (int *)d - fake_handles &&
		    (fake_event_type(ev) & types) != 0)
			fake_queued[i] = true;
	}
	return 0;
}

int
nvmlEventSetWait_v2(void *set, struct fake_event *out, unsigned int ms)
{
	json_t *evs = json_object_get(fake_script, "events"), *ev;
	size_t i;

	(void)ms;	/* never waits: the script's events are all there */
	if (set != &fake_set || !fake_set_live)
		return 2;
	for (i = 0; i < json_array_size(evs) && i < FAKE_EVENTS; i++) {
		if (!fake_queued[i] || fake_delivered[i])
			continue;
		ev = json_array_get(evs, i);
		fake_delivered[i] = true;
		memset(out, 0, sizeof *out);
		out->device = &fake_handles[fake_int(ev, "gpu", 0)];
		out->type = fake_event_type(ev);
		out->data = out->type == 0x8 ?
		    (unsigned long long)fake_int(ev, "data", 999) : 0;
		out->gpu_instance = out->compute_instance = 0xFFFFFFFFu;
		return 0;
	}
	return 10;	/* TIMEOUT */
}
