/*
 * The daemon: one libevent loop that watches the queue folders, supervises
 * runs, rescans the GPUs, and once per loop iteration asks the pure core
 * what to do and carries it out. Files: daemon.c (the loop), queue.c (the
 * index of queued tasks), watch.c (inotify).
 */
#ifndef GPUMGR_DAEMON_H
#define GPUMGR_DAEMON_H

#include <stdbool.h>
#include <stdint.h>

#include <event2/event.h>

#include "common/common.h"
#include "spool/spool.h"
#include "spool/task.h"

/* watch.c */
typedef void (*watch_file_fn)(void *arg, void *cookie, const char *name);
typedef void (*watch_overflow_fn)(void *arg);
struct watch;
struct watch	*watch_new(struct event_base *, watch_file_fn, watch_overflow_fn,
		    void *arg, struct err *);
int		 watch_add(struct watch *, const char *path, void *cookie,
		    struct err *);
void		 watch_remove(struct watch *, void *cookie);
void		 watch_free(struct watch *);

/* queue.c */
struct queue_entry {
	char		 id[TASK_ID_MAX + 1];
	struct spool_loc loc;
	enum task_class	 cls;
	int		 priority;
	uint64_t	 seq;		/* arrival order */
	int64_t		 created_ms;
	char		 gpu_req[128];
	long		 vram_mb;	/* max(requires, script's or model's) */
	char		 cc[16];
	char		*model, *script, *batch_id;
	size_t		 slot;		/* position in the queue's array */
};
struct queue;
struct queue		*queue_new(void);
void			 queue_free(struct queue *);
struct queue_entry	*queue_add(struct queue *, const struct task *,
			    const struct spool_loc *, long vram_mb);
struct queue_entry	*queue_find(const struct queue *, const char *id);
bool			 queue_remove(struct queue *, const char *id);
size_t			 queue_count(const struct queue *);
struct queue_entry	*queue_at(const struct queue *, size_t);
size_t			 queue_depth(const struct queue *, enum task_class, int priority);

#endif
