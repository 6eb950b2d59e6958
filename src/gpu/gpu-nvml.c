/*
 * The NVML backend: libnvidia-ml.so.1 loaded with dlopen (no link-time
 * dependency; GPUMGR_NVML_LIB names another library, which the tests use
 * for their scripted stand-in), the versioned entry points resolved by
 * name. One GPU that cannot be read does not hide the others: it is listed
 * with its failure as health, and a field the GPU does not support is
 * reported unknown.
 *
 * Events: every GPU a scan finds is registered once (by UUID) for critical
 * Xid and double-bit ECC events, masked by what it supports; the events
 * hook drains the set with nvmlEventSetWait_v2 and timeout 0 (see gpu.c
 * for why it polls). Processes: nvmlDeviceGetComputeRunningProcesses_v3
 * with the 24-byte process struct (reference §3; the 32-byte layout of
 * some 535 drivers is recognised as nvitop does), optional: a library
 * without it leaves the processes unknown.
 */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gpu/gpu.h"

/* Our own declarations of the few NVML types we use (see
 * ../shared/reference/nvml.md). */
typedef int nvml_ret;
typedef void *nvml_dev;
struct nvml_memory {
	unsigned long long	total, free, used;
};
struct nvml_util {
	unsigned int		gpu, memory;
};
struct nvml_pci {
	char			bus_id_legacy[16];
	unsigned int		domain, bus, device, pci_device_id;
	unsigned int		pci_subsystem_id;
	char			bus_id[32];
};

struct nvml_proc {		/* nvmlProcessInfo_v2_t: 24 bytes */
	unsigned int		pid;
	unsigned long long	used;
	unsigned int		gpu_instance, compute_instance;
};
struct nvml_proc_cc {		/* the 535.43 layout: 32 bytes */
	unsigned int		pid;
	unsigned long long	used;
	unsigned int		gpu_instance, compute_instance;
	unsigned long long	used_cc_protected;
};
struct nvml_event_data {	/* nvmlEventData_t, for _v2 */
	nvml_dev		device;
	unsigned long long	type;
	unsigned long long	data;
	unsigned int		gpu_instance, compute_instance;
};

#define NVML_SUCCESS			0
#define NVML_ERROR_INVALID_ARGUMENT	2
#define NVML_ERROR_NOT_SUPPORTED	3
#define NVML_ERROR_NO_PERMISSION	4
#define NVML_ERROR_NOT_FOUND		6
#define NVML_ERROR_FUNCTION_NOT_FOUND	13
#define NVML_ERROR_GPU_IS_LOST		15
#define NVML_ERROR_NO_DATA		21
#define NVML_ERROR_DEPRECATED		26
#define NVML_ERROR_GPU_NOT_FOUND	28
#define NVML_TEMPERATURE_GPU		0
#define NVML_MEMORY_ERROR_UNCORRECTED	1
#define NVML_VOLATILE_ECC		0
#define NVML_ERROR_INSUFFICIENT_SIZE	7
#define NVML_ERROR_TIMEOUT		10
#define NVML_BUF			96
#define NVML_EVENT_DBE			0x2ULL
#define NVML_EVENT_XID			0x8ULL
#define NVML_VALUE_NOT_AVAILABLE	(~0ULL)
#define NVML_EVENTS_PER_POLL		256
#define NVML_PROCS_MAX			1024

/* A device registered for events. */
struct nvml_reg {
	nvml_dev	 dev;
	char		 uuid[NVML_BUF];
};

struct nvml {
	void		*dl;
	nvml_ret	(*init)(void);
	nvml_ret	(*shutdown)(void);
	const char	*(*error_string)(nvml_ret);
	nvml_ret	(*count)(unsigned int *);
	nvml_ret	(*handle)(unsigned int, nvml_dev *);
	nvml_ret	(*uuid)(nvml_dev, char *, unsigned int);
	nvml_ret	(*name)(nvml_dev, char *, unsigned int);
	nvml_ret	(*memory)(nvml_dev, struct nvml_memory *);
	nvml_ret	(*pci)(nvml_dev, struct nvml_pci *);
	nvml_ret	(*cc)(nvml_dev, int *, int *);
	nvml_ret	(*util)(nvml_dev, struct nvml_util *);
	nvml_ret	(*temp)(nvml_dev, int, unsigned int *);
	nvml_ret	(*mig)(nvml_dev, unsigned int *, unsigned int *);
	nvml_ret	(*ecc)(nvml_dev, int, int, unsigned long long *);
	nvml_ret	(*procs)(nvml_dev, unsigned int *, void *);
	size_t		 proc_size;	/* of one entry procs fills */
	nvml_ret	(*set_create)(void **);
	nvml_ret	(*set_free)(void *);
	nvml_ret	(*supported)(nvml_dev, unsigned long long *);
	nvml_ret	(*reg)(nvml_dev, unsigned long long, void *);
	nvml_ret	(*wait)(void *, struct nvml_event_data *, unsigned int);
	void		*set;		/* the event set, or NULL */
	struct nvml_reg	*regs;
	size_t		 nregs;
};

static const char *
nvml_strerror(const struct nvml *n, nvml_ret rc)
{
	static char buf[32];
	const char *s = n->error_string != NULL ? n->error_string(rc) : NULL;

	if (s != NULL)
		return s;
	snprintf(buf, sizeof buf, "NVML error %d", rc);
	return buf;
}

/* A call's result on one device: 0 read, 1 field unknown (the GPU stays
 * usable), -1 the GPU failed (its health is set). */
static int
nvml_check(const struct nvml *n, nvml_ret rc, struct gpu_info *g)
{
	switch (rc) {
	case NVML_SUCCESS:
		return 0;
	case NVML_ERROR_NOT_SUPPORTED:
	case NVML_ERROR_NO_PERMISSION:
	case NVML_ERROR_FUNCTION_NOT_FOUND:
	case NVML_ERROR_NO_DATA:
	case NVML_ERROR_DEPRECATED:
	case NVML_ERROR_INVALID_ARGUMENT:
		return 1;
	case NVML_ERROR_GPU_IS_LOST:
	case NVML_ERROR_NOT_FOUND:
	case NVML_ERROR_GPU_NOT_FOUND:
		if (!gpu_health_failed(g->health))
			str_copy(g->health, "lost", sizeof g->health);
		return -1;
	default:
		if (!gpu_health_failed(g->health))
			snprintf(g->health, sizeof g->health, "error: %.80s",
			    nvml_strerror(n, rc));
		return -1;
	}
}

/* Lists the compute processes on D; they stay unknown on any failure. */
static void
nvml_procs(const struct nvml *n, nvml_dev d, struct gpu_info *g)
{
	unsigned int count = 0, i;
	unsigned char *buf;
	nvml_ret rc;

	if (n->procs == NULL)
		return;
	rc = n->procs(d, &count, NULL);
	if (rc == NVML_SUCCESS) {
		g->procs_known = true;	/* none running */
		g->procs_used_mb = 0;
		return;
	}
	if (rc != NVML_ERROR_INSUFFICIENT_SIZE || count > NVML_PROCS_MAX)
		return;
	count += 8;	/* processes come and go */
	buf = xcalloc(count, n->proc_size);
	if (n->procs(d, &count, buf) == NVML_SUCCESS && count <=
	    NVML_PROCS_MAX + 8) {
		g->procs_known = true;
		g->procs_used_mb = 0;
		for (i = 0; i < count; i++) {
			struct nvml_proc p;

			memcpy(&p, buf + (size_t)i * n->proc_size, sizeof p);
			gpu_info_add_proc(g, (int)p.pid,
			    p.used == NVML_VALUE_NOT_AVAILABLE ? GPU_UNKNOWN :
			    (long)(p.used / (1024 * 1024)));
		}
	}
	free(buf);
}

/* Registers D (once, by UUID) for the events that make a GPU unusable. */
static void
nvml_register(struct nvml *n, nvml_dev d, const struct gpu_info *g)
{
	unsigned long long want = NVML_EVENT_XID | NVML_EVENT_DBE, have = 0;
	nvml_ret rc;
	size_t i;

	if (n->set == NULL || g->uuid[0] == '\0')
		return;
	for (i = 0; i < n->nregs; i++)
		if (strcmp(n->regs[i].uuid, g->uuid) == 0) {
			n->regs[i].dev = d;
			return;
		}
	if (n->supported != NULL && n->supported(d, &have) == NVML_SUCCESS)
		want &= have;
	n->regs = xrealloc(n->regs, (n->nregs + 1) * sizeof *n->regs);
	n->regs[n->nregs].dev = d;
	str_copy(n->regs[n->nregs].uuid, g->uuid, sizeof n->regs[0].uuid);
	n->nregs++;
	if (want == 0)
		return;
	if ((rc = n->reg(d, want, n->set)) != NVML_SUCCESS &&
	    rc != NVML_ERROR_NOT_SUPPORTED)
		log_warn("GPU %s: no NVML events (%s): its Xid errors are "
		    "not seen", g->uuid, nvml_strerror(n, rc));
}

static void
nvml_read(const struct nvml *n, nvml_dev d, struct gpu_info *g)
{
	char buf[NVML_BUF];
	struct nvml_memory mem;
	struct nvml_pci pci;
	struct nvml_util util;
	unsigned int t, cur, pend;
	unsigned long long ecc;
	int major, minor;

	memset(buf, 0, sizeof buf);
	if (nvml_check(n, n->uuid(d, buf, sizeof buf), g) == 0) {
		buf[sizeof buf - 1] = '\0';
		str_copy(g->uuid, buf, sizeof g->uuid);
	}
	memset(buf, 0, sizeof buf);
	if (nvml_check(n, n->name(d, buf, sizeof buf), g) == 0) {
		buf[sizeof buf - 1] = '\0';
		str_copy(g->name, buf, sizeof g->name);
	}
	memset(&pci, 0, sizeof pci);
	if (n->pci != NULL && nvml_check(n, n->pci(d, &pci), g) == 0) {
		pci.bus_id[sizeof pci.bus_id - 1] = '\0';
		if (gpu_smitext_busid(pci.bus_id, strlen(pci.bus_id),
		    g->pci_bus_id, sizeof g->pci_bus_id) != 0)
			g->pci_bus_id[0] = '\0';
	}
	if (nvml_check(n, n->memory(d, &mem), g) == 0) {
		g->vram_total_mb = (long)(mem.total / (1024 * 1024));
		g->vram_used_mb = (long)(mem.used / (1024 * 1024));
		g->vram_free_mb = (long)(mem.free / (1024 * 1024));
	}
	if (n->cc != NULL && nvml_check(n, n->cc(d, &major, &minor), g) == 0 &&
	    major >= 0 && minor >= 0 && major < 1000 && minor < 1000)
		snprintf(g->compute_capability, sizeof g->compute_capability,
		    "%d.%d", major, minor);
	if (n->util != NULL && nvml_check(n, n->util(d, &util), g) == 0 &&
	    util.gpu <= 100)
		g->util_pct = (int)util.gpu;
	if (n->temp != NULL && nvml_check(n, n->temp(d, NVML_TEMPERATURE_GPU,
	    &t), g) == 0 && t < 1000)
		g->temp_c = (int)t;
	if (n->mig != NULL && nvml_check(n, n->mig(d, &cur, &pend), g) == 0)
		g->mig = cur == 1;
	/* uncorrectable ECC errors since boot: the GPU's memory is bad */
	if (n->ecc != NULL && nvml_check(n, n->ecc(d,
	    NVML_MEMORY_ERROR_UNCORRECTED, NVML_VOLATILE_ECC, &ecc), g) == 0 &&
	    ecc > 0 && !gpu_health_failed(g->health))
		str_copy(g->health, "ecc", sizeof g->health);
}

static int
nvml_scan(void *state, struct gpu_list *l, struct err *e)
{
	struct nvml *n = state;
	unsigned int count, i;
	struct gpu_info *g;
	nvml_dev d;
	nvml_ret rc;

	if ((rc = n->count(&count)) != NVML_SUCCESS)
		return err_set(e, "nvmlDeviceGetCount_v2: %s",
		    nvml_strerror(n, rc));
	if (count > 1024)
		return err_set(e, "nvmlDeviceGetCount_v2: %u GPUs?", count);
	for (i = 0; i < count; i++) {
		g = gpu_list_add(l, (int)i);
		d = NULL;
		rc = n->handle(i, &d);
		if (rc != NVML_SUCCESS) {
			/* listed, with why it cannot be used */
			if (nvml_check(n, rc, g) > 0)
				snprintf(g->health, sizeof g->health,
				    "error: %.80s", nvml_strerror(n, rc));
			continue;
		}
		nvml_read(n, d, g);
		nvml_procs(n, d, g);
		nvml_register(n, d, g);
	}
	return 0;
}

static int
nvml_events(void *state, struct gpu_event_list *l, struct err *e)
{
	struct nvml *n = state;
	struct nvml_event_data ev;
	struct gpu_event *ge;
	nvml_ret rc;
	size_t i, k;

	if (n->set == NULL)
		return 0;
	for (k = 0; k < NVML_EVENTS_PER_POLL; k++) {
		memset(&ev, 0, sizeof ev);
		rc = n->wait(n->set, &ev, 0);
		if (rc == NVML_ERROR_TIMEOUT)
			return 0;
		if (rc != NVML_SUCCESS)
			return err_set(e, "nvmlEventSetWait_v2: %s",
			    nvml_strerror(n, rc));
		ge = gpu_event_add(l);
		ge->data = ev.data;
		ge->kind = ev.type == NVML_EVENT_XID ? GPU_EVENT_XID :
		    ev.type == NVML_EVENT_DBE ? GPU_EVENT_ECC_DBE :
		    GPU_EVENT_OTHER;
		for (i = 0; i < n->nregs; i++)
			if (n->regs[i].dev == ev.device)
				str_copy(ge->uuid, n->regs[i].uuid,
				    sizeof ge->uuid);
	}
	return 0;
}

static void
nvml_close(void *state)
{
	struct nvml *n = state;

	if (n == NULL)
		return;
	if (n->set != NULL && n->set_free != NULL)
		n->set_free(n->set);
	free(n->regs);
	if (n->shutdown != NULL)
		n->shutdown();
	dlclose(n->dl);
	free(n);
}

static int
nvml_open(void **state, const char *arg, struct err *e)
{
	const char *lib = getenv("GPUMGR_NVML_LIB");
	struct nvml *n;
	nvml_ret rc;
	void *dl;

	if (lib == NULL || *lib == '\0')
		lib = "libnvidia-ml.so.1";
	if ((dl = dlopen(lib, RTLD_NOW | RTLD_LOCAL)) == NULL)
		return err_set(e, "cannot load %s: %s", lib, dlerror());
	n = xcalloc(1, sizeof *n);
	n->dl = dl;
#define NVML_SYM(field, sym) \
	(*(void **)&n->field = dlsym(dl, sym))
	NVML_SYM(init, "nvmlInit_v2");
	NVML_SYM(shutdown, "nvmlShutdown");
	NVML_SYM(error_string, "nvmlErrorString");
	NVML_SYM(count, "nvmlDeviceGetCount_v2");
	NVML_SYM(handle, "nvmlDeviceGetHandleByIndex_v2");
	NVML_SYM(uuid, "nvmlDeviceGetUUID");
	NVML_SYM(name, "nvmlDeviceGetName");
	NVML_SYM(memory, "nvmlDeviceGetMemoryInfo");
	/* optional: an old library lacks some; the field is then unknown */
	NVML_SYM(pci, "nvmlDeviceGetPciInfo_v3");
	NVML_SYM(cc, "nvmlDeviceGetCudaComputeCapability");
	NVML_SYM(util, "nvmlDeviceGetUtilizationRates");
	NVML_SYM(temp, "nvmlDeviceGetTemperature");
	NVML_SYM(mig, "nvmlDeviceGetMigMode");
	NVML_SYM(ecc, "nvmlDeviceGetTotalEccErrors");
	NVML_SYM(set_create, "nvmlEventSetCreate");
	NVML_SYM(set_free, "nvmlEventSetFree");
	NVML_SYM(supported, "nvmlDeviceGetSupportedEventTypes");
	NVML_SYM(reg, "nvmlDeviceRegisterEvents");
	NVML_SYM(wait, "nvmlEventSetWait_v2");
	/* the process struct: reference §3 */
	n->proc_size = sizeof(struct nvml_proc);
	if (NVML_SYM(procs, "nvmlDeviceGetComputeRunningProcesses_v3") !=
	    NULL && dlsym(dl, "nvmlDeviceGetConfComputeMemSizeInfo") != NULL &&
	    dlsym(dl, "nvmlDeviceGetRunningProcessDetailList") == NULL)
		n->proc_size = sizeof(struct nvml_proc_cc);
	else if (n->procs == NULL)
		NVML_SYM(procs, "nvmlDeviceGetComputeRunningProcesses_v2");
#undef NVML_SYM
	if (n->init == NULL || n->shutdown == NULL || n->count == NULL ||
	    n->handle == NULL || n->uuid == NULL || n->name == NULL ||
	    n->memory == NULL) {
		dlclose(dl);
		free(n);
		return err_set(e, "%s lacks the NVML functions gpumgr needs "
		    "(nvmlInit_v2, nvmlDeviceGetCount_v2, ...)", lib);
	}
	if ((rc = n->init()) != NVML_SUCCESS) {
		err_set(e, "nvmlInit_v2 failed: %s (%d)", nvml_strerror(n, rc),
		    rc);
		dlclose(dl);
		free(n);
		return -1;
	}
	if (n->set_create != NULL && n->set_free != NULL && n->reg != NULL &&
	    n->wait != NULL && n->set_create(&n->set) != NVML_SUCCESS)
		n->set = NULL;
	*state = n;
	return 0;
}

const struct gpu_backend gpu_backend_nvml = {
	.name = "nvml",
	.open = nvml_open,
	.scan = nvml_scan,
	.close = nvml_close,
	.events = nvml_events,
};
