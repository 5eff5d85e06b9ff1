// Runs the JUnit suite and ends with one line: `N passed, N failed`.
package latchkey.test

import org.junit.runner.JUnitCore
import org.junit.runner.notification.Failure
import kotlin.system.exitProcess

fun main() {
    val result = JUnitCore.runClasses(AppTest::class.java, ShellCoreTest::class.java)
    result.failures.forEach { f: Failure ->
        println("FAILED ${f.testHeader}: ${f.message}")
        println(f.trace.lines().take(12).joinToString("\n"))
    }
    val failed = result.failureCount
    println("${result.runCount - failed} passed, $failed failed")
    exitProcess(if (failed == 0 && result.runCount > 0) 0 else 1)
}
