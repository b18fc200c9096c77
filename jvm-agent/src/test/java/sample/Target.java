package sample;

import java.util.ArrayList;
import java.util.LinkedList;
import java.util.List;

/** Bytecode shapes the hooks must keep verifiable: loops, handlers, wide locals, merges. */
public class Target {
    private String name = "t";

    public String getName() {
        return name;
    }

    public void setName(String name) {
        this.name = name;
    }

    public static long sum(long a, double b, int[] xs) {
        long total = a + (long) b;
        for (int x : xs) {
            total += x;
        }
        return total;
    }

    public Object merge(boolean flag) {
        List<Integer> list = flag ? new ArrayList<Integer>() : new LinkedList<Integer>();
        list.add(1);
        Object o = flag ? (Object) "s" : (Object) Integer.valueOf(2);
        return list.size() + ":" + o;
    }

    public int caught(String s) {
        try {
            return Integer.parseInt(s);
        } catch (NumberFormatException e) {
            return -1;
        } finally {
            name = s;
        }
    }

    public synchronized void fail(String why) {
        if (why != null) {
            throw new IllegalArgumentException(why);
        }
    }

    public static String handleTxn(int n) {
        StringBuilder sb = new StringBuilder();
        for (int i = 0; i < n; i++) {
            sb.append(i);
        }
        return sb.toString();
    }

    public static int spin(int n) {
        while (n > 0) {
            n--;
        }
        return n;
    }

    public double wide(long a, double b, Object c) {
        double total = a * b;
        long local = a;
        if (c instanceof String) {
            total += ((String) c).length();
        }
        return total + local;
    }

    int hidden() {
        return 7;
    }
}
