"""Tests of the gpumgr Python client against a real daemon on simulated GPUs.

tests/integration/test_python_client.sh starts the daemon (GPUMGR_ROOT,
a fake LLM, a "record" script: record.sh LEDGER {ms} {code}) and runs
these; GPUMGR_API_PORT names its TCP port.
"""
import os
import time
import unittest

import gpumgr


class ClientTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.g = gpumgr.Client(os.environ["GPUMGR_ROOT"], timeout=30)

    def test_status_and_gpus(self):
        st = self.g.status()
        self.assertIn("gpus", st)
        gpus = self.g.gpus()
        self.assertEqual(len(gpus), 2)
        self.assertTrue(all("state" in x for x in gpus))

    def test_answer_is_the_stored_output(self):
        t = self.g.submit("what is two and two", priority=4)
        self.assertEqual(t["status"], "queued")
        self.assertEqual(t["priority"], 4)
        out = self.g.result(t["task_id"], timeout=60)
        self.assertTrue(out)
        self.assertEqual(out, self.g.show(t["task_id"])["output"])
        self.assertTrue(self.g.answer("and three", timeout=60))

    def test_script_output(self):
        t = self.g.submit(script="record", args={"ms": "0", "code": "0"})
        done = self.g.wait(t["task_id"], timeout=60)
        self.assertEqual(done["status"], "complete")
        self.assertEqual(done["output"].strip(), "done " + t["task_id"])

    def test_failed_task_raises(self):
        t = self.g.submit(script="record", args={"ms": "0", "code": "3"})
        with self.assertRaises(gpumgr.TaskFailed) as cm:
            self.g.result(t["task_id"], timeout=60)
        self.assertEqual(cm.exception.code, "script_failed")
        self.assertEqual(self.g.wait(t["task_id"], timeout=5)["status"], "failed")

    def test_wait_times_out(self):
        t = self.g.submit(script="record", args={"ms": "3000", "code": "0"})
        start = time.monotonic()
        with self.assertRaises(gpumgr.WaitTimeout) as cm:
            self.g.wait(t["task_id"], timeout=0.4)
        took = time.monotonic() - start
        self.assertGreaterEqual(took, 0.4)
        self.assertLess(took, 20)
        self.assertIn(cm.exception.task["status"], ("queued", "assigned", "running"))
        self.assertEqual(self.g.wait(t["task_id"], timeout=60)["status"], "complete")

    def test_errors(self):
        with self.assertRaises(gpumgr.ApiError) as cm:
            self.g.submit("x", priority=9)
        self.assertEqual(cm.exception.status, 422)
        self.assertEqual(cm.exception.field, "priority")
        with self.assertRaises(gpumgr.ApiError) as cm:
            self.g.show("no-such-task")
        self.assertEqual(cm.exception.status, 404)
        with self.assertRaises(ValueError):
            self.g.submit()

    def test_batches(self):
        items = [{"ms": "100", "code": "0"} for _ in range(4)]
        b = self.g.submit_batch(items, script="record", batch_id="pyb", gpu_mode="shared")
        self.assertEqual(b["batch_id"], "pyb")
        self.assertEqual(b["total_items"], 4)
        for it in self.g.batch("pyb")["items"]:
            self.assertEqual(self.g.wait(it["task_id"], timeout=60)["status"], "complete")
        rec = self.g.batch("pyb")
        self.assertEqual(rec["completed"], 4)
        mine = [x for x in self.g.batches() if x["batch_id"] == "pyb"]
        self.assertEqual(len(mine), 1)
        self.assertEqual(mine[0]["completed"], 4)
        self.assertEqual(mine[0]["status"], "complete")
        self.assertNotIn("items", mine[0])
        listed = self.g.tasks(batch="pyb")
        self.assertEqual(listed["count"], 4)

    def test_tcp(self):
        port = os.environ.get("GPUMGR_API_PORT")
        if not port:
            self.skipTest("no TCP port given")
        g = gpumgr.Client(os.environ["GPUMGR_ROOT"], url="http://127.0.0.1:" + port)
        t = g.submit(script="record", args={"ms": "0", "code": "0"})
        self.assertEqual(g.wait(t["task_id"], timeout=60)["status"], "complete")
        self.assertEqual(len(g.gpus()), 2)


if __name__ == "__main__":
    unittest.main()
